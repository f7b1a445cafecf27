#include "harness.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto.h"

static void test_roundtrip_socketpair(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const char *js = "{\"op\":\"read\"}";
    assert_int_equal(al_frame_send(sv[0], AL_MSG_FILE, AL_FRAME_MORE, 7, js, strlen(js), "abc", 3),
                     0);
    assert_int_equal(al_frame_send(sv[0], AL_MSG_PING, 0, 0, NULL, 0, NULL, 0), 0);
    struct al_frame_reader r;
    al_frame_reader_init(&r);
    struct al_frame f;
    assert_int_equal(al_frame_read(&r, sv[1], true, &f), 1);
    assert_int_equal(f.type, AL_MSG_FILE);
    assert_int_equal(f.flags, AL_FRAME_MORE);
    assert_int_equal(f.id, 7);
    assert_int_equal(f.json_len, strlen(js));
    assert_memory_equal(f.json, js, f.json_len);
    assert_int_equal(f.data_len, 3);
    assert_memory_equal(f.data, "abc", 3);
    assert_int_equal(al_frame_read(&r, sv[1], true, &f), 1);
    assert_int_equal(f.type, AL_MSG_PING);
    close(sv[0]);
    assert_int_equal(al_frame_read(&r, sv[1], true, &f), -EPIPE);
    al_frame_reader_free(&r);
    close(sv[1]);
}

static void test_rejects_bad_headers(void **state)
{
    uint8_t hdr[AL_PROTO_HDR_LEN];
    struct al_frame f;
    assert_int_equal(al_frame_header_encode(hdr, AL_MSG_EXEC, 0, 1, 10, 5), 0);
    assert_int_equal(al_frame_parse(hdr, sizeof(hdr), &f), 0); /* needs payload */
    hdr[12] = 99;                                              /* unknown type */
    assert_int_equal(al_frame_parse(hdr, sizeof(hdr), &f), -EBADMSG);
    assert_int_equal(al_frame_header_encode(hdr, AL_MSG_EXEC, 0, 1, 10, 5), 0);
    hdr[4] = 20; /* json_len > len */
    assert_int_equal(al_frame_parse(hdr, sizeof(hdr), &f), -EBADMSG);
    assert_int_equal(al_frame_header_encode(hdr, AL_MSG_EXEC, 0x80, 1, 0, 0), 0);
    assert_int_equal(al_frame_parse(hdr, sizeof(hdr), &f), -EBADMSG); /* unknown flag */
    memset(hdr, 0xff, 4);                                             /* huge length */
    assert_int_equal(al_frame_parse(hdr, sizeof(hdr), &f), -EMSGSIZE);
    assert_int_equal(al_frame_header_encode(hdr, AL_MSG_EXEC, 0, 1, AL_PROTO_MAX_PAYLOAD, 1),
                     -EMSGSIZE);
}

static void test_nonblocking_partial(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    uint8_t hdr[AL_PROTO_HDR_LEN];
    assert_int_equal(al_frame_header_encode(hdr, AL_MSG_STDOUT, 0, 3, 0, 4), 0);
    assert_int_equal(write(sv[0], hdr, 10), 10);
    struct al_frame_reader r;
    al_frame_reader_init(&r);
    struct al_frame f;
    assert_int_equal(al_frame_read(&r, sv[1], false, &f), 0);
    assert_int_equal(write(sv[0], hdr + 10, 6), 6);
    assert_int_equal(write(sv[0], "wx", 2), 2);
    assert_int_equal(al_frame_read(&r, sv[1], false, &f), 0);
    assert_int_equal(write(sv[0], "yz", 2), 2);
    assert_int_equal(al_frame_read(&r, sv[1], false, &f), 1);
    assert_memory_equal(f.data, "wxyz", 4);
    al_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_socketpair),
        cmocka_unit_test(test_rejects_bad_headers),
        cmocka_unit_test(test_nonblocking_partial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
