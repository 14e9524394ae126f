"""Ports: a per-run random base, a disjoint block per worker, each port bind-probed.

No two workers of a run can pick the same port, because their blocks do not
overlap; the base sits below the kernel's ephemeral range, so the outgoing
connections of other programs do not land in it either.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

from stackwright.support.errors import PortsExhausted

LOWEST_BASE = 15000
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def choose_run_base(workers: int, block: int, *, rng: random.Random | None = None) -> int:
    """A random base such that ``workers`` blocks fit below the ephemeral range."""
    rng = rng or random.Random()
    low, _ = ephemeral_range()
    highest = low - max(1, workers) * block
    if highest <= LOWEST_BASE:
        return LOWEST_BASE
    return rng.randrange(LOWEST_BASE, highest, block)


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when ``port`` can be bound right now (with SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out the free ports of one worker's block, never the same one twice."""

    def __init__(
        self, base: int, worker_index: int, block: int, *, host: str = "127.0.0.1"
    ) -> None:
        self.first = base + worker_index * block
        self.block = block
        self.host = host
        self._handed: set[int] = set()

    def ports(self) -> range:
        return range(self.first, self.first + self.block)

    def take(self) -> int:
        """The next free port of the block; raises OSError when none is left."""
        for port in self._candidates():
            self._handed.add(port)
            if is_free(port, self.host):
                return port
        raise PortsExhausted(
            f"no free port left in block {self.first}-{self.first + self.block - 1}; "
            "another program holds them. Try: stop it, or run again for another random block"
        )

    def _candidates(self) -> Iterator[int]:
        return (port for port in self.ports() if port not in self._handed)
