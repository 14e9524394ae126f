"""Per-test log slices by offsets, capped with a note."""

from __future__ import annotations

from pathlib import Path

from support.logs import file_slices, mark, read_slice


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
