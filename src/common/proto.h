/* The agent protocol: airlockd <-> airlock-init, identical for the namespace and microVM
 * backends (a socketpair there, virtio-serial here).
 *
 * A frame is a 16-byte little-endian header followed by `len` payload bytes: first `json_len`
 * bytes of a JSON object (may be 0), then `len - json_len` bytes of raw data (stdout chunks,
 * file content).  `id` ties frames to one request (exec or file op); 0 is the connection.
 * Both sides treat the other as hostile: every header is validated before a byte of payload
 * is trusted, and sizes are bounded.
 *
 * Messages (d = airlockd, a = agent):
 *   HELLO     a->d  {"version":1,"pid":N}                      first frame on the channel
 *   EXEC      d->a  {"command":[..],"env":["K=V"],"cwd":"/","user":"name|uid[:gid]",
 *                    "timeoutMs":N,"tty":bool,"rows":N,"cols":N,"maxOutput":N,"stdin":bool}
 *   STDIN     d->a  data; flag EOF closes the child's stdin
 *   RESIZE    d->a  {"rows":N,"cols":N}
 *   SIGNAL    d->a  {"signal":N}                               to the exec's process group
 *   STARTED   a->d  {"pid":N}
 *   STDOUT    a->d  data          STDERR a->d data
 *   EXIT      a->d  {"exitCode":N,"signal":N,"timedOut":bool,"stdoutTruncated":bool,
 *                    "stderrTruncated":bool,"durationMs":N}    last frame of an exec
 *   FILE      d->a  {"op":"read|write|list|stat|mkdir|remove","path":"/..",
 *                    "mode":N,"parents":bool,"recursive":bool,"append":bool}
 *                   write: data follows in this frame; flag MORE: FILE_DATA frames follow,
 *                   the last one without MORE
 *   FILE_DATA both  file content chunk; flag MORE on all but the last
 *   RESULT    a->d  {"ok":true,...} or {"error":{"errno":N,"message":".."}}  ends a file op;
 *                   list: {"ok":true,"entries":[{"name","type","size","mode","mtime"}]}
 *                   stat: {"ok":true,"type","size","mode","mtime","uid","gid"}
 *   PING/PONG both  liveness
 *   ERROR     a->d  {"errno":N,"message":".."}  a request could not start (id = request)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AL_PROTO_VERSION 1
#define AL_PROTO_HDR_LEN 16
#define AL_PROTO_MAX_PAYLOAD (4u << 20) /* 4 MiB per frame */
#define AL_PROTO_MAX_JSON (1u << 20)
#define AL_PROTO_CHUNK (1u << 20) /* data chunk size senders use */

enum al_msg_type {
    AL_MSG_HELLO = 1,
    AL_MSG_EXEC = 2,
    AL_MSG_STDIN = 3,
    AL_MSG_RESIZE = 4,
    AL_MSG_SIGNAL = 5,
    AL_MSG_STARTED = 6,
    AL_MSG_STDOUT = 7,
    AL_MSG_STDERR = 8,
    AL_MSG_EXIT = 9,
    AL_MSG_FILE = 10,
    AL_MSG_FILE_DATA = 11,
    AL_MSG_RESULT = 12,
    AL_MSG_PING = 13,
    AL_MSG_PONG = 14,
    AL_MSG_ERROR = 15,
    AL_MSG_TYPE_MAX = 15,
};

#define AL_FRAME_EOF 0x1
#define AL_FRAME_MORE 0x2
#define AL_FRAME_FLAGS_ALL 0x3

struct al_frame {
    uint16_t type;
    uint16_t flags;
    uint32_t id;
    const char *json; /* not NUL-terminated; json_len bytes */
    uint32_t json_len;
    const uint8_t *data;
    uint32_t data_len;
};

/* Encode a header into out[16].  Returns -EMSGSIZE when the sizes exceed the limits. */
int al_frame_header_encode(uint8_t out[AL_PROTO_HDR_LEN], uint16_t type, uint16_t flags,
                           uint32_t id, uint32_t json_len, uint32_t data_len);
/* Validate a header; on success *ret_len is the payload length to read next. */
int al_frame_header_decode(const uint8_t in[AL_PROTO_HDR_LEN], struct al_frame *ret,
                           uint32_t *ret_len);
/* Parse a whole frame from buf (header + payload).  Returns bytes consumed, 0 if more bytes
 * are needed, or -EBADMSG / -EMSGSIZE for a malformed frame.  Pointers in ret borrow buf. */
int al_frame_parse(const uint8_t *buf, size_t len, struct al_frame *ret);

/* Blocking send of one frame (writev, EINTR-safe).  json may be NULL. */
int al_frame_send(int fd, uint16_t type, uint16_t flags, uint32_t id, const char *json,
                  size_t json_len, const void *data, size_t data_len);

/* Incremental reader for event loops and blocking reads alike. */
struct al_frame_reader {
    uint8_t *buf;
    size_t len, cap;
    size_t consumed; /* bytes of the last returned frame, dropped on the next call */
};
void al_frame_reader_init(struct al_frame_reader *r);
void al_frame_reader_free(struct al_frame_reader *r);
/* Read what is available from fd (once, or until a frame is complete when `block`).
 * Returns 1 and fills ret when a frame is ready, 0 when more bytes are needed (non-blocking
 * fd), -EPIPE on EOF, or another -errno / -EBADMSG. */
int al_frame_read(struct al_frame_reader *r, int fd, bool block, struct al_frame *ret);

const char *al_msg_type_name(uint16_t type);
