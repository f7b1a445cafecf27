/* Strict number parsing: the whole string must be a number in range; no sign surprises. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int al_parse_u64(const char *s, uint64_t max, uint64_t *ret);
int al_parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);
/* "512Mi", "2Gi", "4096", "1G" -> bytes (binary and decimal suffixes). */
int al_parse_size(const char *s, uint64_t *ret);
/* "host:port" or "[v6]:port" -> host copy and port. */
int al_parse_host_port(const char *s, char *host, size_t host_len, uint16_t *ret_port);
