/* The exec child between fork() and execve(). */
#pragma once

#include <fcntl.h>
#include <stdbool.h>

#include "agent/agent.h"

enum agent_child_stage {
    AGENT_STAGE_SETSID = 1,
    AGENT_STAGE_TTY,
    AGENT_STAGE_FDS,
    AGENT_STAGE_CAPS,
    AGENT_STAGE_SETGROUPS,
    AGENT_STAGE_SETGID,
    AGENT_STAGE_SETUID,
    AGENT_STAGE_CHDIR,
    AGENT_STAGE_EXEC,
};

struct agent_child_report {
    int stage;
    int err;
};

struct agent_child_args {
    char **argv;
    char **envp;
    const char *cwd;
    struct agent_user user;
    int in_fd, out_fd, err_fd; /* become 0, 1, 2 */
    int tty_fd;                /* pty slave to make the controlling terminal, or -1 */
    int report_fd;
    bool privileged;
    bool setgroups_denied;
    bool bounding_dropped; /* the agent's bounding set, inherited, is empty already */
};

__attribute__((noreturn)) void agent_child_run(const struct agent_child_args *c);
const char *agent_child_stage_name(int stage);
int agent_fd_cloexec_off(int fd);
