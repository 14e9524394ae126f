"""A cache of run steps' outputs across runs, keyed by content.

An entry is ``<folder>/<step>/<key>/``: the step's ``output`` (a file or a
folder) and ``manifest.json``, written last, with the output's digest. An entry
is built in ``<folder>/tmp/`` and renamed into place in one step, so a reader
sees a whole entry or none; on every hit the output's digest is checked, so an
entry damaged on disk is thrown away and rebuilt instead of used. A lock per key
makes two runs that need the same entry build it once. The folder is kept under
a size bound, least recently used entries first, and is marked with a
``CACHEDIR.TAG``: a folder without it is never emptied.

Nothing here knows what a step builds; ``support.steps.runner`` decides the keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stackwright.support.config.settings import CACHE_MODES as MODES
from stackwright.support.errors import ConfigError

#: Bumped when the layout or the key's recipe changes: older entries are then misses.
FORMAT = 1
TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# The cache of stackwright's run steps (template database, builds).\n"
    "# Safe to delete; PLAYWRIGHT_CACHE=clear empties it.\n"
)
OUTPUT = "output"
MANIFEST = "manifest.json"
#: The manifest of the newest entry of a step, to say why the next lookup missed.
LAST = "last.json"


@dataclass(frozen=True)
class Key:
    """What a step's output depends on, and its digest."""

    recipe: Mapping[str, str]
    #: Every input file (relative path) and its content digest.
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        text = json.dumps({"format": FORMAT, **self.recipe, "files": self.files}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def as_dict(self) -> dict[str, object]:
        return {"recipe": dict(self.recipe), "files": dict(self.files)}


#: Folders never taken as inputs: written by the tools themselves as they run.
SKIPPED = frozenset({"__pycache__", ".git", "node_modules", ".pytest_cache", ".mypy_cache"})


def input_files(base: Path, patterns: Iterable[str]) -> dict[str, str]:
    """Each file the patterns name under ``base`` (a folder means every file in it), by
    relative path, with its content digest (``SKIPPED`` folders left out). A pattern
    that matches nothing is kept as ``missing``, so creating the file later changes
    the key."""
    files: dict[str, str] = {}
    for pattern in patterns:
        matches = (
            sorted(base.glob(pattern)) if any(c in pattern for c in "*?[") else [base / pattern]
        )
        found = False
        for match in matches:
            for path in sorted(match.rglob("*")) if match.is_dir() else [match]:
                if path.is_file() and not SKIPPED.intersection(path.relative_to(base).parts):
                    files[os.path.relpath(path, base)] = _file_digest(path)
                    found = True
        if not found:
            files[pattern] = "missing"
    return files


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def output_digest(path: Path) -> tuple[str, int]:
    """The digest of a file or a folder's files (names included), and the bytes it holds."""
    digest = hashlib.sha256()
    size = 0
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(os.path.relpath(file, path).encode() + b"\0")
        digest.update(_file_digest(file).encode())
        size += file.stat().st_size
    return digest.hexdigest(), size


def copy_output(source: Path, destination: Path) -> None:
    """Put a copy of ``source`` at ``destination`` in one rename (never half of it)."""
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        if source.is_dir():
            shutil.copytree(source, partial, ignore=_special_files)
        else:
            shutil.copyfile(source, partial)
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        os.replace(partial, destination)
    finally:
        remove_path(partial)


def _special_files(folder: str, names: list[str]) -> list[str]:
    """What a copy leaves out: sockets, pipes and devices (a server's socket in its data
    folder); the cache keeps regular files and folders, as ``output_digest`` counts them."""
    special = []
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            special.append(name)
    return special


def _tagged_by_us(folder: Path) -> bool:
    """Whether ``folder``'s CACHEDIR.TAG is the one this harness writes: any tool writes
    the standard signature line, only this one the line after it."""
    tag = folder / TAG
    if tag.is_symlink():
        return False
    try:
        with tag.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(len(TAG_TEXT) + 1) == TAG_TEXT
    except OSError:
        return False


class StepCache:
    """The cache folder of one run; ``mode`` is on, off or clear (empty it, then on)."""

    def __init__(self, folder: Path, *, max_bytes: int, mode: str = "on") -> None:
        if mode not in MODES:
            raise ConfigError(f"the cache mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.folder = folder
        self.max_bytes = max_bytes
        self.mode = mode
        self._opened = False
        self._opening = threading.Lock()
        #: Whether this run emptied the cache (mode clear): a miss then says so.
        self._cleared = False

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def open(self) -> None:
        """Make the folder (and tag it), clear it when asked, drop interrupted writes."""
        with self._opening:  # the run's steps run in threads: one opens, and first
            if not self._opened and self.enabled:
                self._open()
                self._opened = True

    def _open(self) -> None:
        if self.folder.exists() and not _tagged_by_us(self.folder) and any(self.folder.iterdir()):
            raise ConfigError(
                f"the cache folder {self.folder} holds files but no {TAG} of this harness "
                "(another tool's cache has a tag of its own), so it is not a cache this "
                "harness made; refusing to use (or empty) it. Point PLAYWRIGHT_CACHE_DIR "
                "(step_cache_dir in the ini) at a new or empty folder"
            )
        if self.mode == "clear" and self.folder.exists():
            with self._lock("clear"):
                for child in self.folder.iterdir():
                    if child.name != TAG and not child.name.endswith(".lock"):
                        remove_path(child)
            self._cleared = True
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        tag = self.folder / TAG
        if not tag.exists():
            tag.write_text(TAG_TEXT)
        self._drop_abandoned()

    def _drop_abandoned(self) -> None:
        """Remove temporary entries whose writer is gone (a run stopped by Ctrl-C)."""
        for child in (self.folder / "tmp").iterdir():
            pid = child.name.split("-", 1)[0]
            if not pid.isdigit() or not _alive(int(pid)):
                remove_path(child)

    @contextlib.contextmanager
    def claim(self, step: str, key: Key) -> Iterator[None]:
        """Hold the key: another run needing the same entry waits, then finds it."""
        with self._lock(f"{step}-{key.digest}"):
            yield

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        locks = self.folder / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return file_lock(locks / f"{name}.lock")

    def fetch(self, step: str, key: Key, destination: Path) -> str | None:
        """Copy the entry's output to ``destination``; None on a hit, else why it missed."""
        entry = self.folder / step / key.digest
        if not entry.exists():
            return self._why_missed(step, key)
        problem = _damage(entry, key)
        if problem is not None:
            remove_path(entry)
            return f"the cached entry was damaged ({problem}); it was removed"
        copy_output(entry / OUTPUT, destination)
        os.utime(entry / MANIFEST)  # last use, for the size bound
        return None

    def store(self, step: str, key: Key, source: Path) -> None:
        """Keep a copy of ``source`` under ``key``; a concurrent writer's entry wins."""
        digest, size = output_digest(source)
        temp = self.folder / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        temp.mkdir(parents=True)
        try:
            copy_output(source, temp / OUTPUT)
            manifest = {**key.as_dict(), "key": key.digest, "output": digest, "bytes": size}
            text = json.dumps(manifest, indent=1, sort_keys=True)
            (temp / MANIFEST).write_text(text)
            entry = self.folder / step / key.digest
            entry.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temp, entry)
            except OSError:  # another run stored the same key first
                return
            (entry.parent / LAST).write_text(text)
        finally:
            remove_path(temp)
        self.prune(keep=entry)

    def _why_missed(self, step: str, key: Key) -> str:
        if self._cleared:
            return "the cache was cleared (cache = clear)"
        try:
            last = json.loads((self.folder / step / LAST).read_text())
        except (OSError, ValueError):
            return "no cached entry yet"
        recipe = last.get("recipe", {})
        names = [*key.recipe, *(name for name in recipe if name not in key.recipe)]
        # A part the key no longer holds changed too (an interpreter the step stopped naming).
        changes = [f"{name} changed" for name in names if recipe.get(name) != key.recipe.get(name)]
        before, now = last.get("files", {}), key.files
        edited = sorted(p for p in now.keys() & before.keys() if now[p] != before[p])
        added = sorted(now.keys() - before.keys())
        removed = sorted(before.keys() - now.keys())
        for verb, paths in (("changed", edited), ("new", added), ("gone", removed)):
            if paths:
                more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
                changes.append(f"{verb}: {', '.join(paths[:3])}{more}")
        return "; ".join(changes) or "the entry was evicted (size bound)"

    def prune(self, keep: Path | None = None) -> list[Path]:
        """Drop least recently used entries until the cache fits its bound."""
        entries = []
        for manifest in self.folder.glob(f"*/*/{MANIFEST}"):
            if manifest.parent.parent.name in ("tmp", "locks"):
                continue
            try:
                size = int(json.loads(manifest.read_text())["bytes"])
                entries.append((manifest.stat().st_mtime, size, manifest.parent))
            except (OSError, ValueError, KeyError, TypeError):
                entries.append((0.0, 0, manifest.parent))  # unreadable: first to go
        total = sum(size for _, size, _ in entries)
        dropped = []
        for _, size, entry in sorted(entries, key=lambda item: item[0]):
            if total <= self.max_bytes:
                break
            if entry == keep:
                continue
            remove_path(entry)
            total -= size
            dropped.append(entry)
        return dropped


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing); it ends with the process too."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _damage(entry: Path, key: Key) -> str | None:
    """Why an entry cannot be used, or None when its output is what its manifest says."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, ValueError):
        return "no readable manifest"
    if not isinstance(manifest, dict) or manifest.get("key") != key.digest:
        return "its manifest belongs to another key"
    if not (entry / OUTPUT).exists():
        return "its output is missing"
    digest, _ = output_digest(entry / OUTPUT)
    if digest != manifest.get("output"):
        return "its output does not match the digest it was stored with"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_path(path: Path) -> None:
    """Delete a file or a folder; nothing when it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def bytes_of(megabytes: float) -> int:
    return int(megabytes * 1024 * 1024)
