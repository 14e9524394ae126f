"""Is a running service still alive and answering? Checked before each test.

A service that dies or hangs in the middle of a run would otherwise show up
only as odd failures of the tests after it (timeouts in the page, a proxy
error, a misleading hint). The check looks at the process first (exit
status, and its state in /proc: a stopped process is found at once), then asks
its readiness URL with a short timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

#: How long a live service may take to answer its readiness URL between tests.
ANSWER_TIMEOUT = 5.0

_STATES = {
    "T": "stopped (SIGSTOP)",
    "t": "stopped by a debugger",
    "Z": "a zombie (it exited)",
    "D": "in uninterruptible sleep (blocked on I/O)",
}


def process_state(pid: int | None) -> str | None:
    """What is wrong with a process that has not exited, from /proc; None when it runs."""
    if pid is None:
        return None
    return _STATES.get(state_letter(pid))


#: The states of a process that will not answer until someone resumes it.
STOPPED = ("T", "t")


#: The states in which a process cannot serve the next test: stopped, or exited. A
#: process blocked on I/O (``D``) is often so for a moment (a large write, a page fault
#: on a loaded machine); one that stays blocked fails its readiness check instead.
DOWN = (*STOPPED, "Z")


def down_state(pid: int | None) -> str | None:
    """What is wrong with a process that cannot serve the next test; None when it can."""
    if pid is None:
        return None
    letter = state_letter(pid)
    return _STATES[letter] if letter in DOWN else None


def is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (SIGSTOP, or a debugger): it answers nothing until resumed.
    A process blocked on I/O for a moment (``D``) is not."""
    return state_letter(pid) in STOPPED


def state_letter(pid: int) -> str:
    """The process's state in /proc (``R``, ``S``, ``D``, ``T``, ``Z``...); '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def activity(pid: int) -> tuple[bool, int]:
    """Whether a thread of ``pid`` is runnable right now, and how many times its threads
    were switched in so far (a thread that woke and slept again between two looks moved
    it). A runnable thread counts before it runs: on a loaded machine a service woken by
    a closed connection may wait for a CPU, and is not idle then. (False, 0) when gone.
    Read often at a test's end, so parsed as bytes."""
    runnable, switches = False, 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False, 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/status", "rb") as file:
                status = file.read()
        except OSError:
            continue  # a thread that just ended
        state = status.find(b"\nState:\t")
        runnable = runnable or status[state + 8 : state + 9] == b"R"
        for key in (b"\nvoluntary_ctxt_switches:\t", b"\nnonvoluntary_ctxt_switches:\t"):
            start = status.find(key) + len(key)
            switches += int(status[start : status.find(b"\n", start)] or 0)
    return runnable, switches
