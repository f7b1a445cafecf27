/* libFuzzer target: airlock-init's decoders of what the daemon sends, parsed as the agent
 * parses them (depth 8 for EXEC, 4 for the others).  The first byte picks the frame type
 * ('0' EXEC, '1' FILE, '2' RESIZE, '3' SIGNAL, by its value mod 4), the rest is the JSON
 * payload.  Only decoding: nothing is executed and no file is touched.  What decodes must
 * hold what the agent then relies on; a violation abort()s. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/requests.h"
#include "agent/users.h"
#include "common/json.h"
#include "common/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void exec_req(json_t *j)
{
    struct agent_exec_req r;
    struct al_err err;
    if (agent_exec_req_decode(j, &r, &err) == 0) {
        check(r.argv && r.argv[0] && r.argv[0][0]);
        for (char **p = r.env; p && *p; p++)
            check(agent_env_entry_valid(*p));
        check(!r.cwd || (r.cwd[0] == '/' && al_path_is_sane(r.cwd, AGENT_PATH_MAX)));
        check(!r.user || strlen(r.user) <= 256);
        check(r.timeout_ms >= 0 && r.timeout_ms <= INT32_MAX && r.max_output >= 0);
        check(r.rows >= 0 && r.rows <= 65535 && r.cols >= 0 && r.cols <= 65535);
    }
    agent_exec_req_free(&r);
}

static void file_req(json_t *j)
{
    struct agent_file_req r;
    struct al_err err;
    if (agent_file_req_decode(j, &r, &err) < 0)
        return;
    check(r.path && al_path_is_sane(r.path, AGENT_PATH_MAX));
    check(r.op >= AGENT_FILE_UNKNOWN && r.op <= AGENT_FILE_REMOVE);
    if (agent_file_opts_decode(j, &r, &err) < 0)
        return;
    check(r.mode <= 07777);
    check(r.op == AGENT_FILE_WRITE || r.op == AGENT_FILE_MKDIR || r.mode == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % 4;
    struct al_err err;
    json_t *j = al_json_parse((const char *)data + 1, size - 1, kind == 0 ? 8 : 4, &err);
    if (!j)
        return 0;
    switch (kind) {
    case 0:
        exec_req(j);
        break;
    case 1:
        file_req(j);
        break;
    case 2: {
        uint16_t rows, cols;
        if (agent_resize_decode(j, &rows, &cols) == 0)
            check(rows >= 1 && cols >= 1);
        break;
    }
    default: {
        int sig;
        if (agent_signal_decode(j, &sig) == 0)
            check(sig >= 1 && sig < _NSIG);
        break;
    }
    }
    json_decref(j);
    return 0;
}
