"""The run's output folder: claimed for one run at a time, cleared only when it is ours.

pytest-playwright empties ``--output`` at the start of every run, whatever it
holds. The harness instead clears a folder only when a marker file says the
harness made that kind of folder: a test run's over an earlier run's, a merge's
over an earlier merge's (an empty or missing folder is taken as well). A run
holds a lock on that marker for its whole length, so a second run in the same
checkout stops with a message instead of deleting the first one's databases and
logs. A merge builds its folder beside the old one and swaps it in whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackwright.support.errors import OutputFolderError

#: The marker file, and the lock a run holds on it.
MARKER = ".stackwright-output"
#: What made a folder, as its marker says: a test run, or ``stackwright merge``.
KINDS = ("run", "merge")


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
    folder: Path, *, option: str = "--output", keep: Sequence[Path] = (), kind: str = "run"
) -> OutputClaim:
    """Take ``folder`` for this run and empty it but for ``keep`` (what this run wrote
    there already, such as pytest-html's assets), or raise OutputFolderError.

    Refuses a folder that holds files but no marker (it is not ours: ``--output .``
    or ``--output docs``), one whose marker says another kind of folder (a merge's,
    for a run), and a folder another live run holds.
    """
    folder = folder.absolute()
    kept = {path.absolute() for path in keep}
    _check_ours(folder, option, kind, kept)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write the test results to {option} {folder}: {exc.strerror}. "
            "Choose a folder you can write to."
        ) from None
    _lock(fd, folder, option)
    _write_holder(fd, kind)
    _empty(folder, kept)
    return OutputClaim(folder, fd)


def write_whole(
    folder: Path, write: Callable[[Path], None], *, option: str = "--output", kind: str = "merge"
) -> None:
    """Fill ``folder`` with what ``write(staging)`` writes, whole or not at all.

    ``write`` fills a new sibling folder; only when it returns is the old folder (an
    earlier one of the same ``kind``, or none) swapped out and removed. Whatever
    ``write`` raises leaves ``folder`` as it was.
    """
    folder = folder.absolute()
    _check_ours(folder, option, kind, set())
    staging = folder.with_name(f".{folder.name}.{kind}-{os.getpid()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        fd = os.open(staging / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write {option} {folder}: {exc.strerror}. Choose a folder you can write to."
        ) from None
    try:
        _write_holder(fd, kind)
        write(staging)
        _swap_in(staging, folder, option)
    finally:
        os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, folder: Path, option: str) -> None:
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    held = -1
    if folder.exists():  # a folder of the same kind (checked), held while it is swapped out
        held = os.open(folder / MARKER, os.O_RDWR | os.O_CREAT, 0o644)
        _lock(held, folder, option)  # closes ``held`` itself when another process holds it
        try:
            os.rename(folder, old)
        except BaseException:
            os.close(held)
            raise
    try:
        os.rename(staging, folder)
    finally:
        if held >= 0:
            os.close(held)
        shutil.rmtree(old, ignore_errors=True)


def _check_ours(folder: Path, option: str, kind: str, kept: set[Path]) -> None:
    """Raise unless ``folder`` is missing, empty, or of the harness's making and ``kind``."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(
            f"{option} {folder} is a file, not a folder; choose a folder for the results"
        )
    made = marker_kind(folder)
    if made is None and _holds_foreign_files(folder, kept):
        raise OutputFolderError(
            f"{option} {folder} already holds files that this harness did not "
            f"create (no {MARKER} in it), and it empties that folder. "
            f"Refusing to delete them. Choose a new or empty folder for {option}; if it "
            "really holds old test results only, delete it yourself once."
        )
    if made is not None and made != kind:
        made_by = "a test run" if made == "run" else "stackwright merge"
        raise OutputFolderError(
            f"{option} {folder} holds the results of {made_by}, which this {kind} would "
            f"delete. Refusing to. Choose a new folder for {option}, or one an earlier "
            f"{kind} wrote."
        )


def marker_kind(folder: Path) -> str | None:
    """What made ``folder``, as its marker says (``run`` for a marker from before
    kinds were written); None without a marker."""
    try:
        with open(folder / MARKER, "rb") as handle:
            text = handle.read(4096)
    except FileNotFoundError:
        return None
    except OSError:
        return "run"
    try:
        kind = json.loads(text or b"{}").get("kind", "run")
    except (ValueError, AttributeError):
        return "run"
    return kind if kind in KINDS else "run"


def _lock(fd: int, folder: Path, option: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_holder(fd)
        os.close(fd)
        raise OutputFolderError(
            f"another test run is using {folder} ({holder}). Wait for it to finish, "
            f"or give this run its own folder: {option} <another folder>."
        ) from None


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


def _write_holder(fd: int, kind: str) -> None:
    record = {"kind": kind, "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {record['pid']}, started {record['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that holds its lock"
