"""Run a command as the leader of a process group that ends with the process that
started it.

    python -I -S group_guard.py PARENT_PID COMMAND [ARGS...]

The kernel's parent-death signal (``support.pdeath``) reaches only the direct child
of a process that dies, so a build's own children (a shell's, a bundler's workers)
outlived a controller killed with SIGKILL. The run starts this file in a new session
instead of the build: it leads the group, runs the command in it, and when its parent
dies, or it is sent SIGTERM, SIGINT or SIGHUP, it kills the whole group. Otherwise it
ends as the command did (its exit code, or the same signal).

Run as a file, never imported: standard library only, so it starts quickly (``-S``)
on any interpreter.
"""

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _end_group(signum: int = signal.SIGTERM, frame: object = None) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)  # this process too


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _end_group)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the signal was asked for
        _end_group()
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc.strerror}", file=sys.stderr, flush=True)
        return 127
    code = child.wait()
    if code < 0:  # end the same way, so the run reports the signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
