"""The variables a run reads, from the settings table and the configured services: one
list for ``pytest --help``, docs/configuration.md and .env.test.example."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackwright.support.config.services import (
    cmd_variable,
    parse_alt_command,
    stream_variable,
)
from stackwright.support.config.settings import (
    SETTINGS,
)


@dataclass(frozen=True)
class Variable:
    """One environment variable a run reads, for --help, docs/configuration.md and
    .env.test.example."""

    name: str
    ini: str
    default: str
    help: str
    cli: str = ""


def variables(services: Mapping[str, Mapping[str, Any]] | None = None) -> list[Variable]:
    """Every variable: the settings', then each configured service's.

    ``services`` maps each service name to its ini keys (``cmd_env``, ``alt_cmd``).
    """
    rows = [
        Variable(
            s.env, s.ini or "", "" if s.default is None else str(s.default), s.help, s.cli or ""
        )
        for s in SETTINGS
        if s.env
    ]
    for name, keys in (services or {}).items():
        variable = cmd_variable(name, keys.get("cmd_env"))
        rows.append(Variable(variable, f"{name}_cmd", "", f"replaces the {name} command"))
        alternative = parse_alt_command(name, keys.get("alt_cmd"))
        if alternative is not None:
            rows.append(
                Variable(
                    alternative[0],
                    f"{name}_alt_cmd",
                    "",
                    f"when set, the {name} runs {alternative[1]}",
                )
            )
        rows.append(
            Variable(
                stream_variable(name),
                "stream_logs",
                "false",
                f"print the {name} log live",
                "--stream-logs",
            )
        )
    return rows
