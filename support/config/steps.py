"""A run step as data: a command run once per run whose output every worker uses.

Two kinds today: the seeded template database (``template_db_cmd``, written to
``{db}``) and a service's build (``<name>_build``, written to the folder
``{build}``). The runner and the cache that make a step's output live above
configuration (``support.steps``); this is only what configuration says.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackwright.support.config.services import Command
from stackwright.support.errors import StepFailed


@dataclass(frozen=True)
class RunStep:
    """One step: its command, what it makes, where, and what it depends on."""

    spec: Command
    #: The placeholder its output path fills: "db" (a file) or "build" (a folder).
    placeholder: str
    #: For messages: "the template database", "the frontend build".
    what: str
    #: Where its output goes, relative to the run's .services folder.
    target: str
    #: Files, folders or globs (relative to the step's cwd) its output depends on.
    inputs: tuple[str, ...] = ()
    #: The ini keys that set it, for hints.
    command_key: str = "template_db_cmd"
    cwd_key: str = "template_db_cwd"
    timeout_key: str = "template_db_timeout"
    inputs_key: str = "template_db_inputs"
    #: The configuration file, as hints name it.
    ini: str = "playwright.ini"

    def failed(
        self, command: list[str], code: int | None, output: str, **facts: object
    ) -> StepFailed:
        given: dict[str, object] = {
            "what": self.what,
            "placeholder": self.placeholder,
            "command_key": self.command_key,
            "timeout_key": self.timeout_key,
            "ini": self.ini,
            **facts,
        }
        return StepFailed(command, code, output, **given)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.spec.name
