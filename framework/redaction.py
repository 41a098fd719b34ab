"""Keep secret values out of logs, exceptions and output.

Every value smrotate reads or makes that must stay secret (passwords, whole secret strings,
RotationTokens) is registered here; `scrub` replaces each registered value, and its JSON-escaped
form, with a marker. Loggers, the error wrapper of `Rotator.handle` and the CLI pass all text
through `scrub`. Registration is process-wide and bounded: the most recent values are kept.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

MARKER = "[REDACTED]"
_MIN_LENGTH = 4  # shorter values would turn common words into markers
_CAPACITY = 512
# Fields whose values are sensitive wherever they appear in a secret.
SENSITIVE_FIELDS = frozenset({"password", "secret", "token", "apikey", "api_key", "key"})

_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()


def register(*values: str | None) -> None:
    """Remember sensitive strings so that `scrub` hides them; None and short values are ignored."""
    with _lock:
        for value in values:
            if not value or len(value) < _MIN_LENGTH:
                continue
            for form in {value, json.dumps(value)[1:-1], json.dumps(json.dumps(value))[3:-3]}:
                if len(form) >= _MIN_LENGTH:
                    _values[form] = None
                    _values.move_to_end(form)
        while len(_values) > _CAPACITY:
            _values.popitem(last=False)


def register_secret(secret_string: str, value: Mapping[str, Any] | None = None) -> None:
    """Register a whole secret string and the values of its sensitive fields."""
    register(secret_string)
    if value:
        register(
            *(v for k, v in value.items() if k.lower() in SENSITIVE_FIELDS and isinstance(v, str))
        )


def scrub(text: str) -> str:
    """Return `text` with every registered value replaced by the marker; longest values first."""
    with _lock:
        forms = sorted(_values, key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, MARKER)
    return text


def contains_secret(texts: Iterable[str]) -> bool:
    """True when any of `texts` holds a registered value (used by tests and the conformance kit)."""
    with _lock:
        forms = list(_values)
    return any(form in text for text in texts for form in forms)


def forget_all() -> None:
    """Clear the registry (tests only)."""
    with _lock:
        _values.clear()
