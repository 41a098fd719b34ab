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


# The machine format of this run (cli.py sets it from --output and --query).
_MACHINE: dict[str, Any] = {"output": "json", "query": None}


def configure(output: str, query: str | None) -> None:
    """Set how emit_json writes: `output` json or text (table means json here: a command
    prints its own table), and a JMESPath `query` applied first. CliError on a bad query."""
    compiled = None
    if query:
        import jmespath  # type: ignore[import-untyped]
        from jmespath.exceptions import JMESPathError  # type: ignore[import-untyped]

        from smrotate.operator.exit_codes import CliError, ExitCode

        try:
            compiled = jmespath.compile(query)
        except JMESPathError as exc:
            raise CliError(f"--query {query!r} is not JMESPath: {exc}", ExitCode.USAGE) from None
    _MACHINE.update(output="text" if output == "text" else "json", query=compiled)


def emit_json(value: Any) -> None:
    """Write the result `value` to standard output, scrubbed: --query applied, then as JSON
    or as text (--output text)."""
    if _MACHINE["query"] is not None:
        value = _MACHINE["query"].search(json.loads(to_json(value)))
    emit(to_text(value) if _MACHINE["output"] == "text" else to_json(value))


def to_text(value: Any) -> str:
    """The aws CLI's text format: an object's scalar values on one line, tab-separated, keys
    sorted; each nested list or object on lines of its own, led by its key in capitals; a list
    of scalars on one line; an empty list or object not at all; None as None."""
    lines: list[str] = []
    _text(json.loads(to_json(value)), None, lines)
    return "\n".join(lines)


def _text(value: Any, key: str | None, lines: list[str]) -> None:
    if isinstance(value, (dict, list)) and not value:
        return  # an empty list or object prints nothing, as in the aws CLI
    lead = [key.upper()] if key else []
    if isinstance(value, dict):
        items = sorted(value.items())
        scalars = [_scalar(v) for _, v in items if not isinstance(v, (dict, list))]
        if scalars or lead:
            lines.append("\t".join([*lead, *scalars]))
        for name, item in items:
            if isinstance(item, (dict, list)):
                _text(item, name, lines)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            lines.append("\t".join([*lead, *map(_scalar, value)]))
        else:
            for item in value:
                _text(item, key, lines)
    else:
        lines.append("\t".join([*lead, _scalar(value)]))


def _scalar(value: Any) -> str:
    return "None" if value is None else str(value)


def labels_text(labels: Mapping[str, Any] | frozenset[str]) -> str:
    """Labels in smrotate.labels.LABEL_ORDER (AWSCURRENT, AWSPENDING, AWSPREVIOUS), then the
    others by name."""
    return ", ".join(in_label_order(labels))
