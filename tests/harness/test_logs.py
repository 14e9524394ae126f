"""Per-test log slices by offsets, capped with a note."""

from __future__ import annotations

import re
from pathlib import Path

from stackwright.support.errors import tail_of
from stackwright.support.processes.logs import LogMarks, file_slices, mark, read_slice
from stackwright.support.text import TAIL_CHARS, TAIL_LINE_CHARS, bounded_tail


def test_slice_holds_only_what_was_written_since_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("old line 1\nold line 2\n")
    start = mark({"gateway": log})["gateway"]
    with log.open("a") as handle:
        handle.write("new line\n")
    piece = read_slice("gateway", log, start, cap_bytes=1024)
    assert piece.text == "new line\n"
    assert piece.omitted == 0
    assert piece.render() == "new line\n"


def test_missing_log_marks_zero(tmp_path: Path) -> None:
    assert mark({"backend": tmp_path / "nope.log"}) == {"backend": 0}


def test_slice_is_capped_at_a_line_boundary_with_a_note(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_text("".join(f"line {n:04d}\n" for n in range(1000)))
    piece = read_slice("backend", log, 0, cap_bytes=100)
    assert piece.text.endswith("line 0999\n")
    assert piece.text.startswith("line ")
    assert len(piece.text) <= 100
    rendered = piece.render()
    assert rendered.startswith("[... ")
    assert str(log) in rendered.splitlines()[0]


def test_file_slices_writes_service_logs(tmp_path: Path) -> None:
    log = tmp_path / "frontend.log"
    log.write_text("hello\n")
    written = file_slices(
        [read_slice("frontend", log, 0, cap_bytes=1000)], tmp_path / "test-folder"
    )
    assert [p.name for p in written] == ["frontend.log"]
    assert (tmp_path / "test-folder" / "frontend.log").read_text() == "hello\n"


def test_replaced_file_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_text("short\n")
    assert read_slice("backend", log, 999, cap_bytes=1000).text == "short\n"


def test_a_tail_is_bounded_in_characters_as_well_as_lines(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_text("first\n" + "x" * 10_000_000)  # 10 MB without a newline
    piece = read_slice("backend", log, 0, cap_bytes=5 * 1024 * 1024)
    tail = piece.tail(40)
    assert len(tail) < TAIL_LINE_CHARS + 100
    assert tail.endswith("more characters of this line]")
    assert len("\n".join(tail_of(log))) < TAIL_LINE_CHARS + 100


def test_many_long_lines_stop_at_the_character_bound() -> None:
    lines = bounded_tail("\n".join(f"{n} " + "y" * 2000 for n in range(100)), 40)
    assert sum(len(line) for line in lines) <= TAIL_CHARS + 200
    assert lines[0].startswith("[... earlier lines left out")
    assert lines[-1].startswith("99 ")  # the newest line is always kept
    assert bounded_tail("a\nb\nc", 2) == ["b", "c"]


#: A shared server's log: each line names the worker it is for after the process id
#: (PostgreSQL's "%m [%p] %d "), or none; an unprefixed line continues the one before.
SHARED = (
    "2026-12-05 10:00:00.001 UTC [10]  LOG:  checkpoint starting\n"
    '2026-12-05 10:00:00.002 UTC [11] gw0 ERROR:  relation "mine" does not exist\n'
    '2026-12-05 10:00:00.003 UTC [12] gw1 ERROR:  relation "theirs" does not exist\n'
    "2026-12-05 10:00:00.004 UTC [12] gw1 STATEMENT:  select *\n"
    "\tfrom theirs\n"
    "2026-12-05 10:00:00.005 UTC [11] gw0 STATEMENT:  select * from mine\n"
    "2026-12-05 10:00:00.006 UTC [13] postgres ERROR:  a maintenance query failed\n"
    "2026-12-05 10:00:00.007 UTC [14] main LOG:  another run's worker\n"
)
OWNER = r"^\S+ \S+ \S+ \[\d+\] (\S*) "


def test_a_shared_log_slice_keeps_this_workers_lines_and_the_servers(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text("2026-12-05 09:59:59.000 UTC [10]  LOG:  before the test\n")
    marks = LogMarks.take({"postgres": log}, {"postgres": (OWNER, "gw0")})
    with log.open("a") as handle:
        handle.write(SHARED)
    (piece,) = marks.read(cap_bytes=1 << 20)
    assert piece.text.splitlines() == [SHARED.splitlines()[n] for n in (0, 1, 5, 6)]
    assert piece.left_out == 4, "their error, its statement, its second line, main's"
    assert piece.render().splitlines()[0] == (
        f"[4 lines of other workers left out; full log: {log}, bytes {piece.start}-{piece.end}]"
    )
    starts = piece.line_starts()
    assert [log.read_bytes()[at:].decode().splitlines()[0] for at in starts] == (
        piece.text.splitlines()
    ), "each kept line's place in the log, for its read time"
    (whole,) = LogMarks({"postgres": (log, piece.start)}).read(cap_bytes=1 << 20)
    assert whole.left_out == 0 and whole.text == SHARED, "without an owner, every line"


def test_a_slice_with_no_other_workers_lines_is_the_slice_itself(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(SHARED.splitlines(keepends=True)[1])
    piece = read_slice("postgres", log, 0, cap_bytes=1 << 20)
    assert piece.own_lines(re.compile(OWNER), "gw0") is piece
    assert piece.own_lines(re.compile(OWNER), "gw1").text == ""
