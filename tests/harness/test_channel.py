"""The harness's one channel: calls answered by name, tells answered by nothing, in order,
on one connection; the live-log relay and the run services' state use it."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwright.support.errors import HarnessError, PeerGone, RunServiceDown
from stackwright.support.processes import (
    Channel,
    ChannelServer,
    Connection,
    LinePrinter,
    RelayClient,
    RunServicesView,
    abstract_address,
)


@pytest.fixture
def served() -> Iterator[str]:
    """A server that keeps what it was told and answers ``echo``; its address."""
    heard: list[Any] = []

    def handle(connection: Connection, name: str, args: dict[str, Any]) -> Any:
        if name == "note":
            heard.append(args["text"])
            return None
        if name == "echo":
            return list(heard)
        raise HarnessError(f"no {name!r} here")

    server = ChannelServer(abstract_address("test", uuid.uuid4().hex), handle, what="a test server")
    server.start()
    try:
        yield server.address
    finally:
        server.stop()


def test_tells_arrive_in_order_before_the_next_call_and_get_no_answer(
    served: str,
) -> None:
    channel = Channel(served, what="a test server")
    for n in range(50):
        channel.tell("note", text=n)
    channel.tell("nothing-by-this-name", text="dropped")  # its error is not an answer
    assert channel.call("echo", timeout=5) == list(range(50))
    with pytest.raises(HarnessError, match="no 'other' here"):
        channel.call("other", timeout=5)
    channel.close()


def test_a_server_gone_is_named() -> None:
    with pytest.raises(PeerGone, match="a test server does not answer at @stackwright-test-"):
        Channel(abstract_address("test", "nobody listens"), what="a test server")


def test_live_lines_reach_the_printer_in_order_through_the_relay(tmp_path: Path) -> None:
    printed = tmp_path / "terminal"
    fd = os.open(printed, os.O_WRONLY | os.O_CREAT)
    printer = LinePrinter(fd)
    os.close(fd)

    def handle(connection: Connection, name: str, args: dict[str, Any]) -> Any:
        printer.print(args["worker"], args["service"], args["line"])

    server = ChannelServer(abstract_address("test", uuid.uuid4().hex), handle, what="controller")
    server.start()
    expected = [f"[gw3 gateway] line {n}\twith a tab" for n in range(20)]
    try:
        relay = RelayClient(server.address, "gw3")
        for n in range(20):
            relay.send("gateway", f"line {n}\twith a tab")
        deadline = time.monotonic() + 10
        while len(printed.read_text().splitlines()) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        relay.close()
        relay.send("gateway", "after close: dropped, no error")
    finally:
        server.stop()
        printer.close()
    assert printed.read_text().splitlines() == expected


def test_a_relay_to_a_controller_that_is_gone_drops_its_lines() -> None:
    relay = RelayClient(abstract_address("test", "gone controller"), "gw0")
    relay.send("backend", "nobody hears this")  # no error: the test goes on
    relay.close()


def test_a_run_state_that_cannot_be_asked_names_why_and_the_logs(tmp_path: Path) -> None:
    view = RunServicesView(
        abstract_address("test", "no controller"), restart_timeout=5, log_dir=tmp_path
    )
    with pytest.raises(RunServiceDown, match=f"cannot be checked: .*Their logs: {tmp_path}"):
        view.check()


def test_a_run_state_that_is_not_one_is_refused(tmp_path: Path) -> None:
    def handle(connection: Connection, name: str, args: dict[str, Any]) -> Any:
        return {"generation": "many"}

    server = ChannelServer(abstract_address("test", uuid.uuid4().hex), handle, what="forger")
    server.start()
    try:
        view = RunServicesView(server.address, restart_timeout=5, log_dir=tmp_path)
        with pytest.raises(RunServiceDown, match="not a run state"):
            view.check()
    finally:
        server.stop()
