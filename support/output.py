"""The run's output folder: claimed for one run at a time, cleared only when it is ours.

pytest-playwright empties ``--output`` at the start of every run, whatever it
holds. The harness instead clears a folder only when a marker file says an
earlier run of the harness created it (an empty or missing folder is taken as
well), and holds a lock on that marker for the whole run, so a second run in
the same checkout stops with a message instead of deleting the first one's
databases and logs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError

#: The marker file, and the lock a run holds on it.
MARKER = ".stackwright-output"


class OutputFolderError(HarnessError):
    """The output folder cannot be used for this run; the message names the fix."""


@dataclass
class OutputClaim:
    """A held claim on an output folder; ``release()`` (or process exit) frees it."""

    folder: Path
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def claim_output_dir(
    folder: Path, *, option: str = "--output", keep: Sequence[Path] = ()
) -> OutputClaim:
    """Take ``folder`` for this run and empty it but for ``keep`` (what this run wrote
    there already, such as pytest-html's assets), or raise OutputFolderError.

    Refuses a folder that holds files but no marker (it is not ours: ``--output .``
    or ``--output docs``), and a folder another live run holds.
    """
    folder = folder.absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(
            f"{option} {folder} is a file, not a folder; choose a folder for the test results"
        )
    kept = {path.absolute() for path in keep}
    if _holds_foreign_files(folder, kept):
        raise OutputFolderError(
            f"{option} {folder} already holds files that a run of this harness did not "
            f"create (no {MARKER} in it), and each run empties its output folder. "
            f"Refusing to delete them. Choose a new or empty folder for {option}; if it "
            "really holds old test results only, delete it yourself once."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write the test results to {option} {folder}: {exc.strerror}. "
            "Choose a folder you can write to."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_holder(fd)
        os.close(fd)
        raise OutputFolderError(
            f"another test run is using {folder} ({holder}). Wait for it to finish, "
            f"or give this run its own folder: {option} <another folder>."
        ) from None
    _write_holder(fd)
    _empty(folder, kept)
    return OutputClaim(folder, fd)


def _holds_foreign_files(folder: Path, keep: set[Path]) -> bool:
    if not folder.is_dir() or (folder / MARKER).exists():
        return False
    return any(not _kept(entry, keep) for entry in folder.iterdir())


def _kept(entry: Path, keep: set[Path]) -> bool:
    """Whether ``entry`` is, or holds, something this run wrote already."""
    return any(path == entry or entry in path.parents for path in keep)


def _empty(folder: Path, keep: set[Path]) -> None:
    """Remove everything in ``folder`` but the marker and ``keep``; what cannot go is
    reported."""
    for entry in folder.iterdir():
        if entry.name == MARKER or _kept(entry, keep):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            raise OutputFolderError(
                f"cannot clear {entry} from the last run: {exc.strerror}. "
                "Remove it by hand, or choose another folder with --output."
            ) from None


def _write_holder(fd: int) -> None:
    record = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {record['pid']}, started {record['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that holds its lock"
