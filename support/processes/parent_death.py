"""The parent-death signal: a child started with exec dies with the process that started it.

The kernel ties that signal to the *thread* that started the child, so every
child is started from one thread that lasts as long as the process (``popen``),
whichever thread asks: a stack booted in the background or a run step in a
thread of its own must not take its services down when that thread ends.

Its own module because ``process`` (services), ``preload`` (the preload server)
and ``steps`` use it, and ``preload`` must not import ``process``.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

#: Leads a run step's process group and ends it when the run dies, however it dies
#: (``group_guard.py``: run as a file, never imported).
GROUP_GUARD = Path(__file__).with_name("group_guard.py")
#: The one thread children are started from; it lives until the interpreter exits.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-spawner")


def popen(args: Any, **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` on the lasting thread, the child dying with this process."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, preexec_fn=die_with_parent, **options)

    return _SPAWNER.submit(start).result()


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL the child when the thread that started it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
