"""Processes of this machine by pid: the one liveness check every pid file and pid-named leftover uses."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine. This process counts as alive; one owned by another user
    (EPERM) counts as alive; a zombie child of this process (exited, not yet waited for) counts as gone and is
    reaped."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not a child of ours: alive, as kill said
        return True
    return done == 0
