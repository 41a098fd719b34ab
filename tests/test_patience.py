"""The suite's waits lengthen with the machine's load (and SMROTATE_TEST_PATIENCE), never
shorten, and a bad setting is a clear error."""

from __future__ import annotations

import pytest

from smrotate.testing import patience


@pytest.mark.parametrize(
    ("load", "cores", "expected"),
    [(0.2, 2, 60.0), (2.0, 2, 60.0), (6.0, 2, 180.0), (100.0, 2, 60.0 * patience.MAX_FACTOR)],
)
def test_a_wait_scales_with_the_load_per_core(
    monkeypatch: pytest.MonkeyPatch, load: float, cores: int, expected: float
) -> None:
    monkeypatch.delenv(patience.PATIENCE_ENV, raising=False)
    monkeypatch.setattr("os.getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(patience, "cores", lambda: cores)
    assert patience.scaled(60) == pytest.approx(expected)


def test_the_variable_multiplies_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.getloadavg", lambda: (1.0, 0.0, 0.0))
    monkeypatch.setattr(patience, "cores", lambda: 2)
    monkeypatch.setenv(patience.PATIENCE_ENV, "2.5")
    assert patience.scaled(10) == pytest.approx(25.0)


@pytest.mark.parametrize("raw", ["fast", "0", "-1", "nan"])
def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(patience.PATIENCE_ENV, raw)
    with pytest.raises(ValueError, match="SMROTATE_TEST_PATIENCE must be a positive number"):
        patience.scaled(10)


def test_without_a_load_average_the_wait_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.delenv(patience.PATIENCE_ENV, raising=False)
    monkeypatch.setattr("os.getloadavg", unavailable)
    assert patience.scaled(7) == 7
