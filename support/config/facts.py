"""What a run learns as it opens, beside its settings: the facts every worker needs.

The settings (``HarnessConfig``) are resolved once and never change. The controller
learns the rest while it opens the run (the ports it chose, its channel's address,
each preload server's, each run-scoped service's URL) and hands both to every worker
once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stackwright.support.config.settings import HarnessConfig


@dataclass(frozen=True)
class RunFacts:
    """What the controller learned while opening the run."""

    #: The first port of the run's range; each worker (and the run) takes a block.
    port_base: int = 0
    port_block: int = 20
    #: The port block of the run-scoped services (after every worker's).
    run_block: int = 0
    #: The controller's channel: where workers tell their live log lines (when streamed),
    #: and where they ask for the run-scoped services' state (when there are any).
    relay_address: str | None = None
    run_address: str | None = None
    preload_addresses: Mapping[str, str] = field(default_factory=dict)
    run_urls: Mapping[str, str] = field(default_factory=dict)
    #: The run-scoped services' folder (their logs and state), which ``stackwright up``'s
    #: run keeps in its own output folder.
    run_dir: str | None = None

    def learned(self, **values: Any) -> RunFacts:
        """These facts and ``values``, as the run learns them."""
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for pytest-xdist's workerinput."""
        data = asdict(self)
        for key in ("preload_addresses", "run_urls"):
            data[key] = dict(getattr(self, key))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunFacts:
        return cls(**data)


def run_values(config: HarnessConfig, facts: RunFacts) -> dict[str, str]:
    """Placeholders every command may use: the run's, every service's interpreter, and the
    run-scoped services' URLs."""
    values = {"root": config.root, "host": config.host}
    for spec in config.services:
        values[f"{spec.name}_python"] = spec.interpreter
    for name, url in facts.run_urls.items():
        values[f"{name}_url"] = url
        values[f"{name}_port"] = url.rsplit(":", 1)[1]
    return values
