"""One pid liveness check (`wenulake.processes.pid_alive`) for the cluster's pid files and the warehouse's
pid-named leftovers: real processes, a zombie child included."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from wenulake.processes import pid_alive


def test_this_process_and_a_running_child_are_alive():
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()


def test_an_exited_child_not_yet_waited_for_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    stat = Path(f"/proc/{child.pid}/stat")
    while stat.read_text().split()[2] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not pid_alive(child.pid)  # a zombie: exited (kill(pid, 0) still succeeds on it)


def test_a_pid_no_process_has_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)


def test_the_cluster_and_the_leftovers_use_the_one_check():
    from wenulake import cluster, leftovers

    assert cluster.pid_alive is pid_alive
    assert leftovers.pid_alive is pid_alive
    assert not hasattr(cluster, "_alive")
    assert not hasattr(leftovers, "_alive")
