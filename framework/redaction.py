"""Keep secret values out of logs, exceptions and output.

Every value smrotate reads or makes that must stay secret (passwords, whole secret strings,
RotationTokens) is registered here; `scrub` replaces each registered value with a marker, in
every spelling in which text quotes it (see `forms`). Loggers, the error wrapper of
`Rotator.handle` and the CLI pass all text through `scrub`. Registration is process-wide and
bounded: the most recent values are kept.

Log records get `scrub_log`, which also blanks the value of any field named like a secret
(`SecretString`, `RotationToken`, `password`...) whatever its value: botocore logs a
GetSecretValue response before smrotate has read, hence registered, the value in it.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MARKER = "[REDACTED]"
_MIN_LENGTH = 4  # shorter values would turn common words into markers
_CAPACITY = 4096  # spellings, about ten per value
_JSON_DEPTH = 3  # a password in a SecretString in a request body in a logged JSON line
# Fields whose values are sensitive wherever they appear in a secret.
SENSITIVE_FIELDS = frozenset(
    {"password", "secret", "token", "apikey", "api_key", "key", "secret_access_key"}
)
# Fields whose values `scrub_log` blanks in any log text, registered or not.
LOG_FIELDS = (
    "SecretString",
    "SecretBinary",
    "RotationToken",
    "X-Amz-Security-Token",
    "aws_session_token",
    "api_?key",
    r"[A-Za-z_]*password",
)
_NAMES = "|".join(LOG_FIELDS)
# A quoted field at any depth of escaping: "k": "v", \"k\": \"v\", \\"k\\": \\"v\\", 'k': b'v'.
# The value ends at the first closing quote of the same depth, which is never preceded by a
# backslash (a deeper quote always is); a value that ends in a backslash makes the match run on
# to a later quote or to the end of the text: it blanks more, never less.
_QUOTED_FIELD = re.compile(
    r"(?P<q>\\*[\"'])(?P<key>" + _NAMES + r")(?P=q)(?P<sep>\s*:\s*b?)"
    r"(?P<vq>\\*[\"'])(?P<value>.*?)(?P<end>(?<!\\)(?P=vq)|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# key=value, as in URL-encoded bodies and query strings and in libpq connection strings.
_ASSIGNED_FIELD = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<key>" + _NAMES + r")(?P<sep>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|[^\s&\",;]+)",
    re.IGNORECASE,
)

_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()
_by_length: list[str] | None = None  # _values, longest first; None when it must be rebuilt
# Each spelling under its first _MIN_LENGTH characters: with many values registered (a warm
# process that rotated many secrets), `scrub` looks only at those whose prefix the text holds.
_by_prefix: dict[str, set[str]] = {}
_LINEAR_UP_TO = 128  # spellings; up to this many, trying each one is faster than the index


def forms(value: str) -> set[str]:
    """The spellings of `value` that text may hold, each at least 4 characters long.

    The value as is; JSON-escaped once, twice and three times, with and without ASCII escapes
    (a password inside a SecretString inside a PutSecretValue body inside a JSON log line); each
    of these as a Python str or bytes repr shows it (botocore logs request and response bodies as
    bytes reprs); and URL-encoded.
    """
    escaped = {value}
    for ascii_only in (True, False):
        text = value
        for _ in range(_JSON_DEPTH):
            text = json.dumps(text, ensure_ascii=ascii_only)[1:-1]
            escaped.add(text)
    spellings = set(escaped)
    for text in escaped:
        spellings.add(repr(text)[1:-1])
        spellings.add(repr("\"'" + text)[4:-1])  # as inside a repr that holds both quotes
        raw = text.encode("utf-8", "backslashreplace")
        spellings.add(repr(raw)[2:-1])
        spellings.add(repr(b"\"'" + raw)[5:-1])
    for text in (value, json.dumps(value)[1:-1]):
        spellings.add(quote(text, safe="", errors="backslashreplace"))
        spellings.add(quote(text, errors="backslashreplace"))
        spellings.add(quote_plus(text, safe="", errors="backslashreplace"))
    return {s for s in spellings if len(s) >= _MIN_LENGTH}


def register(*values: str | None) -> None:
    """Remember sensitive strings so that `scrub` hides them; None and short values are ignored."""
    global _by_length  # noqa: PLW0603 - the process-wide registry
    new = [forms(value) for value in values if value and len(value) >= _MIN_LENGTH]
    if not new:
        return
    with _lock:
        for spellings in new:
            for form in spellings:
                _values[form] = None
                _values.move_to_end(form)
                _by_prefix.setdefault(form[:_MIN_LENGTH], set()).add(form)
        while len(_values) > _CAPACITY:
            old, _ = _values.popitem(last=False)
            same_prefix = _by_prefix[old[:_MIN_LENGTH]]
            same_prefix.discard(old)
            if not same_prefix:
                del _by_prefix[old[:_MIN_LENGTH]]
        _by_length = None


def register_secret(secret_string: str, value: Mapping[str, Any] | None = None) -> None:
    """Register a whole secret string and the values of its sensitive fields."""
    register(secret_string)
    if value:
        register(
            *(v for k, v in value.items() if k.lower() in SENSITIVE_FIELDS and isinstance(v, str))
        )


def _candidates(text: str) -> list[str]:
    """The registered spellings that may occur in `text`, longest first."""
    global _by_length  # noqa: PLW0603 - the process-wide registry
    with _lock:
        if len(_values) <= _LINEAR_UP_TO:
            if _by_length is None:
                _by_length = sorted(_values, key=len, reverse=True)
            return _by_length
    grams = {text[i : i + _MIN_LENGTH] for i in range(len(text) - _MIN_LENGTH + 1)}
    with _lock:  # the text's prefixes are made outside it: the lock is process-wide
        found = [form for prefix in grams & _by_prefix.keys() for form in _by_prefix[prefix]]
    return sorted(found, key=len, reverse=True)


def scrub(text: str) -> str:
    """Return `text` with every registered value replaced by the marker; longest values first."""
    for form in _candidates(text):
        if form in text:
            text = text.replace(form, MARKER)
    return text


def _blank_quoted(match: re.Match[str]) -> str:
    q, vq = match["q"], match["vq"]
    return f"{q}{match['key']}{q}{match['sep']}{vq}{MARKER}{vq}"


def _blank_assigned(match: re.Match[str]) -> str:
    return f"{match['key']}{match['sep']}{MARKER}"


def scrub_fields(text: str) -> str:
    """Return `text` with the value of every field named in LOG_FIELDS replaced by the marker."""
    if "=" in text:
        text = _ASSIGNED_FIELD.sub(_blank_assigned, text)
    if '"' in text or "'" in text:
        text = _QUOTED_FIELD.sub(_blank_quoted, text)
    return text


def scrub_log(text: str) -> str:
    """`scrub`, then `scrub_fields`: what every log line gets."""
    return scrub_fields(scrub(text))


def scrub_exception(exc: BaseException | None, scrubber: Callable[[str], str] = scrub) -> None:
    """Scrub the string arguments (the messages) of `exc` and of the exceptions chained to it,
    in place, with `scrubber` (`scrub` by default; log records use `scrub_log`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        args = tuple(scrubber(a) if isinstance(a, str) else a for a in exc.args)
        if args != exc.args:
            exc.args = args
        exc = exc.__cause__ or exc.__context__


def contains_secret(texts: Iterable[str]) -> bool:
    """True when any of `texts` holds a registered value (used by tests and the conformance kit)."""
    with _lock:
        spellings = list(_values)
    return any(form in text for text in texts for form in spellings)


def forget_all() -> None:
    """Clear the registry (tests only)."""
    global _by_length  # noqa: PLW0603 - the process-wide registry
    with _lock:
        _values.clear()
        _by_prefix.clear()
        _by_length = None
