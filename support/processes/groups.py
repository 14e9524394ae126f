"""Stopping a process group: the one way every process the harness started is stopped.

Each child the harness starts leads a process group of its own (a new session), so
stopping the group also stops whatever the child started.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Protocol

#: How long a group gets to go after SIGKILL before the wait gives up.
KILL_WAIT = 5.0


class Child(Protocol):
    """What a started process offers: ``subprocess.Popen``, or a preloaded fork."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the group ``pid`` leads; a group that is gone is left alone.

    A preloaded service is a fork whose pid is known before it leads its own group
    (it calls setsid first thing): then the signal goes to the process itself, or a
    stop right after the start would wait out the whole grace period."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    except PermissionError:
        pass


def kill_group(pid: int) -> None:
    """SIGKILL the group ``pid`` leads, at once."""
    signal_group(pid, signal.SIGKILL)


def stop_group(child: Child, grace: float) -> int | None:
    """SIGTERM the child's group (and SIGCONT, so a stopped process acts on it), SIGKILL
    it after ``grace`` seconds; then SIGKILL whatever the leader left behind. The
    child's exit code (None if even SIGKILL did not end it within ``KILL_WAIT``)."""
    if child.poll() is None:
        signal_group(child.pid, signal.SIGTERM)
        signal_group(child.pid, signal.SIGCONT)
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            kill_group(child.pid)
            try:
                child.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:
                return None
    kill_group(child.pid)
    return child.returncode
