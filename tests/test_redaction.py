"""The redaction registry under load: with thousands of spellings registered (a warm process
that rotated many secrets), `scrub` finds values through its prefix index and hides exactly what
trying every spelling hides; eviction keeps the index in step with the registry."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from smrotate import redaction


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


def fill(values: int) -> list[str]:
    made = [secrets.token_urlsafe(18) + "\"'/+ é" for _ in range(values)]
    redaction.register(*made)
    return made


def texts(value: str) -> list[str]:
    body = json.dumps({"SecretString": json.dumps({"password": value})})
    return [
        f"password is {value}.",
        f"b'{body}'",
        f"url: https://example.com/?p={quote(value, safe='')}&x=1",
        json.dumps({"message": body}),
    ]


def test_a_full_registry_uses_the_index_and_hides_every_spelling() -> None:
    values = fill(600)
    assert len(redaction._values) == redaction._CAPACITY  # full: older spellings evicted
    assert len(redaction._values) > redaction._LINEAR_UP_TO  # so the index is what is used
    for value in values[-50:]:
        for text in texts(value):
            scrubbed = redaction.scrub(text)
            assert not redaction.contains_secret([scrubbed]), scrubbed
            assert redaction.MARKER in scrubbed


def test_the_index_hides_what_trying_every_spelling_hides(monkeypatch: pytest.MonkeyPatch) -> None:
    values = fill(600)
    inner = values[-1][:10]  # a registered value inside another one: the longer one wins
    redaction.register(inner)
    samples = [t for v in values[-30:] for t in texts(v)] + [f"x{inner}y", "nothing to hide"]
    indexed = [redaction.scrub(text) for text in samples]
    monkeypatch.setattr(redaction, "_LINEAR_UP_TO", redaction._CAPACITY)
    redaction.register("force-a-rebuild")
    linear = [redaction.scrub(text) for text in samples]
    assert indexed == linear
    assert indexed[-2] == f"x{redaction.MARKER}y"
    assert indexed[-1] == "nothing to hide"


def test_eviction_removes_spellings_from_the_index_too() -> None:
    (first,) = fill(1)
    fill(600)
    assert redaction.scrub(f"old {first}") == f"old {first}"  # evicted: no longer known
    indexed = {form for forms in redaction._by_prefix.values() for form in forms}
    assert indexed == set(redaction._values)
    assert all(redaction._by_prefix.values())  # no empty prefix left behind
