"""Ports: disjoint blocks per worker, held ports skipped, below the ephemeral range."""

from __future__ import annotations

import random
import socket

from stackwright.support.processes.ports import (
    PortAllocator,
    choose_run_base,
    ephemeral_range,
    is_free,
)


def test_two_workers_never_share_a_port() -> None:
    base = choose_run_base(2, 20)
    first, second = PortAllocator(base, 0, 20), PortAllocator(base, 1, 20)
    taken_first = {first.take() for _ in range(10)}
    taken_second = {second.take() for _ in range(10)}
    assert not taken_first & taken_second
    assert set(first.ports()).isdisjoint(second.ports())


def test_blocks_stay_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    for seed in range(50):
        base = choose_run_base(8, 20, rng=random.Random(seed))
        assert base + 8 * 20 <= low


def test_a_held_port_is_skipped() -> None:
    base = choose_run_base(1, 20)
    while not (is_free(base) and is_free(base + 1)):  # another program's port: pick again
        base = choose_run_base(1, 20)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", base))
        holder.listen()
        assert not is_free(base)
        allocator = PortAllocator(base, 0, 20)
        assert allocator.take() == base + 1


def test_a_port_is_never_handed_out_twice() -> None:
    allocator = PortAllocator(choose_run_base(1, 20), 0, 5)
    ports = [allocator.take() for _ in range(5)]
    assert len(set(ports)) == 5
    try:
        allocator.take()
    except OSError as exc:
        assert "no free port left" in str(exc)
    else:
        raise AssertionError("a sixth port was handed out of a block of five")
