"""API calls and time of `smrotate fleet` for 1,000 secrets, on moto server on loopback.

Creates 1,000 secrets in five rotation healths (healthy, disabled, never-rotated, overdue,
stuck), then runs `smrotate fleet --output json` in a separate process, as an operator would,
and counts the requests that reach the server, by operation. The target is at most 15 calls.

Usage: python bench/fleet.py [--secrets N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cli_process import run_cli  # noqa: E402

BUDGET = 15
DAY = 86400


def populate(url: str, count: int) -> Counter[str]:
    """`count` secrets, a fifth in each health; the expected healths."""
    import boto3

    from smrotate.testing.aws import add_valueless_pending, backend, enable_rotation

    sm = boto3.client("secretsmanager", endpoint_url=url)
    now = int(time.time())
    expected: Counter[str] = Counter()
    for index in range(count):
        name = f"fleet/app-{index:04d}"
        value = json.dumps({"username": f"app{index}", "password": f"bench-password-{index:04d}"})
        sm.create_secret(Name=name, SecretString=value)
        kind = index % 5
        if kind == 1:
            expected["disabled"] += 1
            continue
        enable_rotation(name, days=30)
        record = backend().secrets[name]
        if kind == 0:
            record.last_rotation_date = now - DAY
            record.next_rotation_date = now + 29 * DAY
            expected["healthy"] += 1
        elif kind == 2:
            expected["never-rotated"] += 1
        elif kind == 3:
            record.last_rotation_date = now - 40 * DAY
            record.next_rotation_date = now - 10 * DAY
            expected["overdue"] += 1
        else:
            add_valueless_pending(name, f"00000000-0000-4000-8000-{index:012d}")
            record.last_changed_date = now - 3 * 3600
            expected["stuck"] += 1
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=1000)
    count = parser.parse_args().secrets

    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.server import ThreadedMotoServer

    from smrotate.testing.aws import free_port

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    calls: Counter[str] = Counter()
    counting = [False]
    original = SecretsManagerResponse.call_action

    def counted(self: Any) -> Any:
        if counting[0]:
            calls[self._get_action()] += 1
        return original(self)

    SecretsManagerResponse.call_action = counted  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        expected = populate(url, count)
        print(f"created {count} secrets in {time.perf_counter() - started:.1f} s")

        counting[0] = True
        done, elapsed = run_cli(url, "fleet")
        counting[0] = False
    finally:
        SecretsManagerResponse.call_action = original  # type: ignore[method-assign]
        server.stop()

    rows = json.loads(done.stdout or "[]")
    healths = Counter(row["health"] for row in rows)
    total = sum(calls.values())
    print(
        f"smrotate fleet: exit {done.returncode}, {len(rows)} secrets listed in {elapsed:.2f} s "
        "(a fresh process, imports included)"
    )
    print(f"  {', '.join(f'{n} {h}' for h, n in healths.most_common())}")
    for operation, n in sorted(calls.items()):
        print(f"  {operation:<24}{n:>4}")
    print(
        f"  {'total API calls':<24}{total:>4}  (budget {BUDGET}; one DescribeSecret per "
        f"secret would be {count})"
    )
    ok = total <= BUDGET and len(rows) == count and healths == expected
    if not ok:
        print(f"FAILED: expected {dict(expected)}, listed {dict(healths)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
