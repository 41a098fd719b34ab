"""The pytest plugin (entry point `pytest11: smrotate`): the conformance kit's summary line.

It imports nothing heavy, so it costs nothing in test runs that don't use the kit.
"""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print cases run, crash points injected and survived, when the kit ran."""
    from framework.testing.kit.recorder import TOTALS

    if not TOTALS["cases"]:
        return
    terminalreporter.section("smrotate conformance kit")
    terminalreporter.write_line(
        f"{TOTALS['cases']} cases run, {TOTALS['crash points']} crash points injected, "
        f"{TOTALS['survived']} survived, {TOTALS['failures injected']} target failures "
        f"injected, {TOTALS['rotations']} full rotations checked"
    )
