/* FILE operations (stub; filled in next). */
#include <errno.h>

#include "agent/agent.h"
#include "common/json.h"

static void result_error(struct agent *a, uint32_t id, int code, const char *msg)
{
    agent_send_json(a, AL_MSG_RESULT, id,
                    json_pack("{s:{s:i,s:s}}", "error", "errno", code, "message", msg));
}

void agent_file_request(struct agent *a, const struct al_frame *f)
{
    result_error(a, f->id, ENOSYS, "file operations not implemented yet");
}

void agent_file_data(struct agent *a, const struct al_frame *f)
{
}

bool agent_file_pending(const struct agent *a)
{
    return false;
}

void agent_file_progress(struct agent *a)
{
}

void agent_file_abort_all(struct agent *a)
{
}
