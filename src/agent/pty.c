/* A fresh pseudo-terminal pair for tty execs.  The peer is opened with TIOCGPTPEER where the
 * kernel has it (no path lookup), else through ptsname_r(). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int agent_pty_resize(int master, uint16_t rows, uint16_t cols)
{
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

int agent_pty_open(int *ret_master, int *ret_slave, uint16_t rows, uint16_t cols)
{
    cleanup_close int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    if (grantpt(m) < 0 || unlockpt(m) < 0)
        return -errno;
    cleanup_close int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        char name[128];
        if (ptsname_r(m, name, sizeof(name)) != 0)
            return -errno;
        s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s < 0)
            return -errno;
    }
    int rc = agent_pty_resize(m, rows, cols);
    if (rc < 0)
        return rc;
    if ((rc = al_fd_nonblock(m, true)) < 0)
        return rc;
    *ret_master = TAKE_FD(m);
    *ret_slave = TAKE_FD(s);
    return 0;
}
