"""One service process: own session, parent-death signal, output drained from byte one.

Started with exec, or forked by the run's preload server
(see ``stackwright.support.processes.preload``).

The constructor only stores configuration; ``start()`` does the work. Stop is
idempotent: SIGTERM to the process group, SIGKILL after the grace period.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import select
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Self

from stackwright.support.errors import CommandNotFound
from stackwright.support.processes import parent_death as pdeath
from stackwright.support.processes import preload
from stackwright.support.processes.groups import stop_group
from stackwright.support.processes.logs import ReadTimes

LineSink = Callable[[str, str], None]
Child = subprocess.Popen[bytes] | preload.PreloadedChild


class ServiceProcess:
    """A child process whose stdout and stderr go, line by line, to a log file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        on_line: LineSink | None = None,
        preload: str | None = None,
        preload_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        ini_name: str = "playwright.ini",
        user: str = "",
    ) -> None:
        self.name = name
        #: Who it runs as when the harness is root ('' for the harness's user).
        self.user = user
        #: The configuration file, as hints name it.
        self.ini_name = ini_name
        self.command = list(command)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.on_line = on_line
        #: Address of the run's preload server, tried first for ``{python} -m`` commands.
        self.preload = preload
        self.preload_timeout = preload_timeout
        self.popen: Child | None = None
        self._output: BinaryIO | None = None
        self._reader: threading.Thread | None = None
        self._log_lock = threading.Lock()
        self._eof = False
        self.clock = clock
        self.started_at = 0.0
        #: Where this start's output begins in the log (earlier starts' lines come before).
        self.log_offset = 0

    @property
    def preloaded(self) -> bool:
        """Whether the preload server forked this process (rather than exec)."""
        return isinstance(self.popen, preload.PreloadedChild)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> Self:
        """Spawn the process. Call from a long-lived thread: the parent-death
        signal fires when the *thread* that forked exits."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab", buffering=0)
        self.log_offset = log.tell()
        read_fd, write_fd = os.pipe()
        self._output = os.fdopen(read_fd, "rb", buffering=0)
        self.started_at = self.clock()
        try:
            self.popen = self._spawn_preloaded(write_fd, log) or self._spawn(write_fd)
        except BaseException:
            log.close()
            self._output.close()
            raise
        finally:
            os.close(write_fd)
        self._reader = threading.Thread(
            target=self._drain, args=(self._output, log), name=f"{self.name}-log", daemon=True
        )
        self._reader.start()
        return self

    def _spawn_preloaded(self, output_fd: int, log: BinaryIO) -> Child | None:
        """Fork from the preload server when there is one and the command allows it."""
        if self.preload is None or preload.preloadable(self.command) is None:
            return None
        try:
            child = preload.spawn(
                self.preload,
                self.command,
                cwd=str(self.cwd or os.getcwd()),
                env=self.env if self.env is not None else os.environ,
                output_fd=output_fd,
                timeout=self.preload_timeout,
            )
        except preload.PreloadUnavailable as exc:
            log.write(
                f"[harness] started with exec instead of the preload server: {exc}\n".encode()
            )
            return None
        return child

    def _spawn(self, output_fd: int) -> subprocess.Popen[bytes]:
        try:
            return pdeath.popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output_fd,
                stderr=output_fd,
                start_new_session=True,
                **as_user(self.user),
            )
        except (FileNotFoundError, PermissionError) as exc:
            program, fix = self.command[0], f"fix the {self.name} command in {self.ini_name}"
            if isinstance(exc, PermissionError):
                reason, hint = "is not executable", f"chmod +x {program}, or {fix}"
            else:
                reason, hint = "was not found", f"install {program!r}, or {fix}"
            raise CommandNotFound(
                service=self.name,
                worker="-",
                command=self.command,
                log_path=None,
                hint=hint,
                reason=reason,
            ) from None

    def _drain(self, output: BinaryIO, log: BinaryIO) -> None:
        """Move output from the pipe to the log file, and complete lines to ``on_line``.

        Bytes leave the pipe only while ``_log_lock`` is held and are in the file
        before it is released: that is what lets ``sync()`` be exact.
        """
        fd = output.fileno()
        partial = b""
        times = ReadTimes(self.log_path)
        with output, log, closing(times):
            while True:
                select.select([fd], [], [])
                with self._log_lock:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        log.write(chunk)
                        times.record(log.tell(), time.time())
                    else:
                        self._eof = True
                if not chunk:
                    break
                if self.on_line is not None:
                    *lines, partial = (partial + chunk).split(b"\n")
                    for line in lines:
                        self.on_line(self.name, line.decode("utf-8", "replace").rstrip("\r"))
            if partial and self.on_line is not None:
                self.on_line(self.name, partial.decode("utf-8", "replace").rstrip("\r"))

    def sync(self, timeout: float = 0.5) -> None:
        """Wait until every byte the process has written so far is in the log file."""
        if self.popen is None or self._output is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._log_lock:
                if self._eof or _pending_bytes(self._output) == 0:
                    return
            time.sleep(0.0005)

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_drained(self, timeout: float = 2.0) -> None:
        """Wait until every byte the process wrote is in the log file."""
        if self._reader is not None:
            self._reader.join(timeout)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
        if self.popen is None:
            return None
        code = stop_group(self.popen, grace)
        self.wait_drained()
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def as_user(user: str) -> dict[str, Any]:
    """Popen's options that run a child as ``user`` (with its groups), when the harness
    runs as root; none otherwise."""
    if not user or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _pending_bytes(pipe: IO[bytes]) -> int:
    """Bytes waiting in a pipe (0 once it is closed)."""
    try:
        buffer = fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int.from_bytes(buffer, sys.byteorder)
