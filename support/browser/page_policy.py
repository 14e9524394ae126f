"""Page policy: unexpected console errors and page errors fail the test.

Also emulates reduced motion and turns animations off on every navigation,
so screenshots and waits do not depend on transition timing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import BrowserContext, ConsoleMessage, WebError

from stackwright.support.errors import PagePolicyViolation

#: What the ``expect_console_error`` fixture is: declare an expected error by regex.
ExpectConsoleError = Callable[[str], None]

NO_ANIMATIONS = """
(() => {
  const css = '*, *::before, *::after {'
    + ' animation-duration: 0s !important; animation-delay: 0s !important;'
    + ' transition-duration: 0s !important; transition-delay: 0s !important;'
    + ' caret-color: transparent !important; }';
  const install = () => {
    if (document.getElementById('__harness_no_animations')) return;
    const style = document.createElement('style');
    style.id = '__harness_no_animations';
    style.textContent = css;
    (document.head || document.documentElement).appendChild(style);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', install);
  else install();
})();
"""


@dataclass
class PagePolicy:
    """Collects console errors and page errors of one browser context."""

    expected: list[re.Pattern[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> PagePolicy:
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)
        context.add_init_script(NO_ANIMATIONS)
        return self

    def expect(self, pattern: str) -> None:
        """Declare a console error (or page error) the test expects."""
        self.expected.append(re.compile(pattern))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._record("console.error", message.text, message.page.url if message.page else "?")

    def _on_web_error(self, error: WebError) -> None:
        self._record("page error", str(error.error), error.page.url if error.page else "?")

    def _record(self, kind: str, text: str, url: str) -> None:
        if any(pattern.search(text) for pattern in self.expected):
            return
        self.problems.append(f"{kind} on {url}: {text}")

    def check(self) -> None:
        if self.problems:
            raise PagePolicyViolation(list(self.problems))
