"""Per-test log slices by offsets, capped with a note."""

from __future__ import annotations

from pathlib import Path

from stackwright.support.errors import tail_of
from stackwright.support.processes.logs import file_slices, mark, read_slice
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
