"""The pytest plugin (entry point `pytest11: smrotate`): the conformance kit's summary line.

pytest loads it in every project where smrotate is installed, so it must be harmless there:
importing it loads only pytest and this module (its parents, `smrotate` and
`smrotate.testing`, import nothing), and its one hook reads the kit's counts only when the
kit was imported by the run, and never raises.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

RECORDER = "smrotate.testing.kit.recorder"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print cases run, crash points injected and survived, when the kit ran."""
    module = sys.modules.get(RECORDER)  # not imported: the kit did not run; import nothing
    totals: Any = getattr(module, "TOTALS", None)
    if not totals or not totals["cases"]:
        return
    terminalreporter.section("smrotate conformance kit")
    terminalreporter.write_line(
        f"{totals['cases']} cases run, {totals['crash points']} crash points injected, "
        f"{totals['survived']} survived, {totals['failures injected']} target failures "
        f"injected, {totals['rotations']} full rotations checked"
    )
