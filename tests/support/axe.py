"""Accessibility checks with axe-core in Debian's chromium (WCAG 2.1 A and AA rules).

axe-core comes from the npm registry (`scripts/axe_deps.sh`, run by `make test`, puts
it under var/npm). It is injected into the loaded page through the driver, which the
page's Content-Security-Policy doesn't govern, so pages are checked as served.

    def test_pages_are_accessible(browser, live_server):
        assert_accessible(browser, live_server.url + "/help/")

checks the page at 375 px and at 1440 px wide and fails with each violation's rule,
impact and first elements.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver

AXE_JS = Path(__file__).resolve().parents[2] / "var/npm/node_modules/axe-core/axe.min.js"
WIDTHS = (375, 1440)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then(result => done(result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + n.failureSummary)}))))
  .catch(error => done([{id: "axe-error", impact: "critical", help: String(error), nodes: []}]));
"""


@cache
def _axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail("axe-core is needed for accessibility tests: run scripts/axe_deps.sh.")
    return AXE_JS.read_text()


def violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 AA violations on the page the driver shows now."""
    driver.set_script_timeout(30)
    driver.execute_script(_axe_source())
    return list(driver.execute_async_script(_RUN, TAGS))


def _describe(found: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found
    )


def assert_accessible(
    driver: webdriver.Chrome, url: str, *, widths: tuple[int, ...] = WIDTHS, height: int = 900
) -> None:
    """Load ``url`` at each width and fail on any axe-core violation. The driver's
    cookies (a signed-in session) are kept: check pages as their reader sees them."""
    for width in widths:
        driver.set_window_size(width, height)
        driver.get(url)
        found = violations(driver)
        assert not found, f"{url} at {width} px has accessibility violations:\n{_describe(found)}"
