/* attack: a multi-call, statically linked program that performs one isolation attack from
 * inside a sandbox and prints exactly one JSON line describing what happened:
 *
 *   {"attack":"<name>","ok":<bool>,"errno":<n>,"detail":"<text>"}
 *
 * "ok" is true when the ATTACK SUCCEEDED (the defence is absent); "errno" is the errno of the
 * syscall that decided the outcome (0 on success).  The pytest battery uploads this binary into
 * a sandbox and asserts ok == false with the errno the defence should produce.  Every attack
 * can also be run on the host (e.g. under `unshare -r`) as a positive control showing that the
 * program really issues the syscall and would report success.
 *
 * One exception to the one-line rule: `attack escape_check` (atk_check*.c) runs a whole
 * container-escape checker and prints a CHECK/FINDING line per check before its JSON line.
 */
#pragma once

#include <stdbool.h>

struct atk_entry {
    const char *name;
    int (*fn)(const char *name, int argc, char **argv);
    const char *usage;
};

/* Prints the JSON line and flushes stdout.  Returns 0 so callers can `return atk_report(..)`. */
__attribute__((format(printf, 4, 5))) int atk_report(const char *name, bool ok, int err,
                                                     const char *fmt, ...);
/* Appends printf-style text to a bounded buffer (never overflows, always NUL-terminated). */
__attribute__((format(printf, 3, 4))) void atk_append(char *buf, unsigned long size,
                                                      const char *fmt, ...);
/* Reads up to size-1 bytes of a file into buf; returns bytes read or -errno. */
long atk_read_file(const char *path, char *buf, unsigned long size);
/* The raw probes the attacks and the escape checker share (atk_sys.c): the syscall's return
 * (an fd the caller closes, or -1 with errno). */
long atk_sys_bpf_map(void);    /* BPF_MAP_CREATE of a tiny array */
long atk_sys_bpf_prog(void);   /* BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter */
long atk_sys_perf_event(void); /* perf_event_open(self, software cpu-clock, user only) */

extern const struct atk_entry atk_ns_table[];
extern const struct atk_entry atk_sys_table[];
extern const struct atk_entry atk_fs_table[];
extern const struct atk_entry atk_net_table[];
extern const struct atk_entry atk_res_table[];
extern const struct atk_entry atk_abi_table[];
extern const struct atk_entry atk_check_table[]; /* escape_check: many lines, see atk_check.h */
