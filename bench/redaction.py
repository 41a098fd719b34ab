"""Cost of `redaction.scrub` per log line, by registry size: a cold Lambda (one secret's values
registered) and a warm process that rotated many secrets (the registry full, 4096 spellings).
Both ways are measured in the same run: the prefix index `scrub` uses past 128 spellings, and
trying every spelling in turn (the index switched off).

Prints microseconds per line, for a short log line and for a 3 KB botocore body line.

Usage: python bench/redaction.py [--lines N]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import timeit
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from smrotate import redaction  # noqa: E402 - after the path is set

SHORT = "setSecret: changed the password of app_user on db.example.com (single-user) in 41 ms"
BODY = "Response body: b'" + json.dumps({"ARN": "arn:aws:secretsmanager:x" * 60, "Name": "a"}) + "'"


def per_line_us(text: str, lines: int) -> float:
    return timeit.timeit(lambda: redaction.scrub(text), number=lines) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000, help="scrubs per figure")
    args = parser.parse_args()
    print(f"{'registry':>22} {'line':>8} {'index µs':>9} {'every spelling µs':>18}")
    for values in (1, 400):
        redaction.forget_all()
        redaction.register(*(secrets.token_urlsafe(24) + "/+é" for _ in range(values)))
        size = len(redaction._values)
        for name, text in (("short", SHORT), (f"{len(BODY) // 1000} KB", BODY)):
            limit = redaction._LINEAR_UP_TO
            indexed = per_line_us(text, args.lines) if size > limit else float("nan")
            redaction._LINEAR_UP_TO = redaction._CAPACITY
            redaction.register("rebuild-the-list")
            linear = per_line_us(text, args.lines)
            redaction._LINEAR_UP_TO = limit
            print(f"{size:>11} spellings {name:>8} {indexed:9.1f} {linear:18.1f}")
    redaction.forget_all()


if __name__ == "__main__":
    main()
