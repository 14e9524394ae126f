"""A failed test's timeline: timestamps found, read times used where there are none,
each source kept in order; the read-time records beside a log."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

from stackwright.support.processes.logs import ReadTimes, read_slice, read_times, times_path
from stackwright.support.results.output import MARKER, claim_output_dir
from stackwright.support.results.timeline import (
    MAX_ENTRIES,
    merge,
    render_html,
    render_text,
    service_entries,
)
from stackwright.support.stamps import Entry, parse_stamp

UTC_NOON = calendar.timegm((2026, 11, 21, 12, 0, 0, 0, 0, 0))


def test_iso_stamps_with_and_without_a_zone() -> None:
    assert parse_stamp("2026-11-21T12:00:00.250Z INFO up") == (UTC_NOON + 0.25, True)
    assert parse_stamp("2026-11-21 14:00:00,5+02:00 x") == (UTC_NOON + 0.5, True)
    local = time.mktime((2026, 11, 21, 12, 0, 0, 0, 0, -1))
    assert parse_stamp("2026-11-21 12:00:00 started") == (local, False)


def test_werkzeug_stamps_are_whole_seconds_and_stamps_inside_a_message_do_not_count() -> None:
    local = time.mktime((2026, 11, 21, 12, 0, 0, 0, 0, -1))
    line = '127.0.0.1 - - [21/Nov/2026 12:00:00] "GET /api/parts HTTP/1.1" 200 -'
    assert parse_stamp(line) == (local, False)
    assert parse_stamp("x" * 60 + " 2026-11-21T12:00:00Z") is None
    assert parse_stamp("no stamp at all") is None


def _slice(tmp_path: Path, text: str, records: list[tuple[int, float]]) -> tuple:
    log = tmp_path / "gateway.log"
    log.write_bytes(text.encode())
    times = ReadTimes(log)
    for end, when in records:
        times.record(end, when)
    times.close()
    piece = read_slice("gateway", log, 0, cap_bytes=1 << 20)
    return piece, read_times(log, piece.start, piece.end)


def test_lines_without_a_stamp_take_the_time_they_were_read(tmp_path: Path) -> None:
    text = "first\nsecond\nthird\n"  # read in two chunks: 13 bytes, then 6
    piece, records = _slice(tmp_path, text, [(13, 100.0), (19, 105.0)])
    entries = service_entries(piece, records, read_at=200.0)
    assert [(e.time, e.text) for e in entries] == [
        (100.0, "first"),
        (100.0, "second"),
        (105.0, "third"),
    ]


def test_precise_stamps_win_and_a_source_keeps_its_order(tmp_path: Path) -> None:
    text = (
        "2026-11-21T12:00:01.000Z one\n"
        "no stamp, read early\n"  # read before the stamp above: kept after it anyway
        "2026-11-21T12:00:00.500Z clock went back\n"
    )
    piece, records = _slice(tmp_path, text, [(len(text), UTC_NOON)])
    times = [entry.time for entry in service_entries(piece, records, read_at=0.0)]
    assert times == [UTC_NOON + 1, UTC_NOON + 1, UTC_NOON + 1]


def test_a_whole_second_stamp_keeps_the_read_time_within_its_second(tmp_path: Path) -> None:
    local = time.mktime((2026, 11, 21, 12, 0, 0, 0, 0, -1))
    line = '127.0.0.1 - - [21/Nov/2026 12:00:00] "GET / HTTP/1.1" 200 -\n'
    piece, records = _slice(
        tmp_path, line * 2, [(len(line), local + 0.4), (2 * len(line), local + 5)]
    )
    times = [entry.time for entry in service_entries(piece, records, read_at=0.0)]
    assert times == [local + 0.4, local + 0.999]


def test_read_times_cover_only_the_slice_and_ignore_a_half_written_record(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    times = ReadTimes(log)
    for end in (10, 20, 30, 40):
        times.record(end, float(end))
    times.close()
    with times_path(log).open("ab") as handle:
        handle.write(b"\x01\x02\x03")  # a record being written right now
    assert read_times(log, 15, 30) == [(20, 20.0), (30, 30.0)]
    assert read_times(log, 40, 45) == []
    assert read_times(tmp_path / "none.log", 0, 10) == []


def test_merge_orders_sources_and_keeps_the_last_entries() -> None:
    page = [Entry(1.0, "page console", "a"), Entry(3.0, "page console", "c")]
    backend = [Entry(2.0, "backend", "b"), Entry(3.0, "backend", "d")]
    entries, left_out = merge(page, backend)
    assert [e.text for e in entries] == ["a", "b", "c", "d"]
    assert left_out == 0
    many = [Entry(float(n), "backend", str(n)) for n in range(MAX_ENTRIES + 5)]
    entries, left_out = merge(many)
    assert left_out == 5 and entries[0].text == "5"


def test_renderings_escape_and_mark_each_source() -> None:
    entries = [Entry(10.5, "backend", "<b>GET</b>"), Entry(11.0, "page sse", "progress: 50")]
    fragment = render_html(entries, 10.0, left_out=2)
    assert "&lt;b&gt;GET&lt;/b&gt;" in fragment and "<b>GET</b>" not in fragment
    assert "+0.500s" in fragment and "2 earlier entries left out" in fragment
    text = render_text(entries, 10.0)
    assert "   +0.500s" in text and "backend  | <b>GET</b>" in text


def test_the_output_folder_keeps_what_this_run_wrote_before_it_was_claimed(tmp_path: Path) -> None:
    results = tmp_path / "test-results"
    (results / "assets").mkdir(parents=True)
    (results / "assets" / "style.css").write_text("body {}")
    claim = claim_output_dir(results, keep=[results / "assets"])  # not refused as foreign
    claim.release()
    (results / "old-test").mkdir()
    claim = claim_output_dir(results, keep=[results / "assets"])
    claim.release()
    assert sorted(p.name for p in results.iterdir()) == sorted([MARKER, "assets"])
