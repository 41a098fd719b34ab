"""Rendering for the CLI: times in UTC with their distance from now, aligned tables, JSON.

Every string the CLI writes goes through `emit` (results, standard output) or `note` (progress
and errors, standard error), both of which pass it through `redaction.scrub` last: whatever a
bug might put in a message, a registered secret value never reaches the terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smrotate import redaction
from smrotate.labels import in_label_order


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def span(delta: timedelta) -> str:
    """A rounded, human length of time: 45 s, 12 min, 3 h, 2 d."""
    seconds = abs(delta.total_seconds())
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def when(moment: datetime | None, now: datetime) -> str:
    """`2026-11-27 20:10 UTC (3 h ago)`, or `never`."""
    if moment is None:
        return "never"
    moment = utc(moment)
    delta = now - moment
    relative = f"{span(delta)} ago" if delta >= timedelta(0) else f"in {span(delta)}"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({relative})"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return None if moment is None else utc(moment).isoformat()


def to_json(value: Any) -> str:
    """Indented JSON; datetimes as ISO 8601 UTC, sets as sorted lists."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return iso(obj)
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(f"cannot write {type(obj).__name__} as JSON")

    return json.dumps(value, indent=2, default=default)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Columns aligned with two spaces, headers in capitals; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [[h.upper() for h in headers], *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`key  value` lines with the values aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}".rstrip() for k, v in pairs)


def emit(text: str) -> None:
    """Write a result line (or block) to standard output, scrubbed."""
    sys.stdout.write(redaction.scrub(text) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """Write progress or an error to standard error, scrubbed."""
    sys.stderr.write(redaction.scrub(text) + "\n")
    sys.stderr.flush()


def emit_json(value: Any) -> None:
    """Write `value` as JSON to standard output, scrubbed."""
    emit(to_json(value))


def labels_text(labels: Mapping[str, Any] | frozenset[str]) -> str:
    """Labels in smrotate.labels.LABEL_ORDER (AWSCURRENT, AWSPENDING, AWSPREVIOUS), then the
    others by name."""
    return ", ".join(in_label_order(labels))
