"""The run's template: seeded once by the controller, waited for by every worker.

The run does not wait for the seed: workers start every service that does not name
their database (and launch their browsers) while it runs, and ``wait_for_template``
holds back only the services that do. The controller publishes the template by
renaming its output into place (the SQLite file, or on PostgreSQL the note that the
template database is seeded), or its failure in ``template.failed`` beside it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from stackwright.support.config import HarnessConfig
from stackwright.support.errors import TemplateUnavailable

#: Beside the template: why it will not come (the step's error), written whole.
TEMPLATE_FAILED = "template.failed"


def publish_template_failure(config: HarnessConfig, message: str) -> None:
    """Tell every worker waiting for the template that it will not come, and why."""
    folder = config.template_path.parent
    partial = folder / f".{TEMPLATE_FAILED}.{os.getpid()}"
    partial.write_text(message)
    os.replace(partial, folder / TEMPLATE_FAILED)


def wait_for_template(
    config: HarnessConfig, *, poll: float = 0.01, on_wait: Callable[[], object] | None = None
) -> float:
    """Seconds waited until the run's template is there (none, without a template step);
    TemplateUnavailable with the step's own error when it failed, or when it did not come
    within the template's timeout (and a minute more for the cache). ``on_wait`` is
    called between looks (what else the caller watches meanwhile)."""
    if not config.template_cmd:
        return 0.0
    started = time.monotonic()
    path, failed = config.template_path, config.template_path.parent / TEMPLATE_FAILED
    limit = started + config.template_timeout + 60.0
    while not path.exists():
        if failed.exists():
            raise TemplateUnavailable(failed.read_text(errors="replace"))
        if time.monotonic() > limit:
            raise TemplateUnavailable(
                f"the template database did not appear at {path} within "
                f"{config.template_timeout + 60:g} s (template_db_timeout and a minute); "
                "the run's summary says what its step did"
            )
        if on_wait is not None:
            on_wait()
        time.sleep(poll)
    return time.monotonic() - started
