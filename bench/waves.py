"""API calls and time of `smrotate rotate --all` over 1,000 secrets, on moto server on loopback.

Creates N secrets with rotation on (N/20 of them rotated an hour ago, so skipped), a rotation
function in moto's Lambda whose invocations run a real rotator in this process (bench/
file_target.py's FileRotator, its users in a JSON file), then runs
`smrotate rotate --all --output json` in a separate process, as an operator would. It counts
the requests that reach the server: the command's own, and the function's (those that arrive
while a RotateSecret is being served), by operation, and checks that every eligible secret's
new version is AWSCURRENT and logs in.

moto runs the function inside RotateSecret, so here each rotation has ended when RotateSecret
returns and the command's first DescribeSecret sees it; on AWS the function runs on its own
and the command polls (one DescribeSecret per `--interval` per running rotation).

Usage: python bench/waves.py [--secrets N] [--rate R] [--max-concurrent M]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cli_process import run_cli  # noqa: E402

HOUR = 3600


def populate(url: str, count: int, function_arn: str, users: Path) -> set[str]:
    """`count` secrets with rotation on; every 20th rotated an hour ago. The eligible names."""
    import boto3

    from smrotate.testing.aws import backend, enable_rotation

    sm = boto3.client("secretsmanager", endpoint_url=url)
    passwords: dict[str, str] = {}
    eligible = set()
    for index in range(count):
        name = f"waves/app-{index:04d}"
        user = f"app{index:04d}"
        passwords[user] = f"bench-password-{index:04d}"
        sm.create_secret(
            Name=name, SecretString=json.dumps({"username": user, "password": passwords[user]})
        )
        enable_rotation(name, function_arn=function_arn, days=30)
        if index % 20 == 19:
            backend().secrets[name].last_rotation_date = int(time.time()) - HOUR
        else:
            eligible.add(name)
    users.write_text(json.dumps(passwords))
    return eligible


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=1000)
    parser.add_argument("--rate", default="100", help="--rate for the command (default 100)")
    parser.add_argument("--max-concurrent", default="10")
    options = parser.parse_args()

    import file_target
    from moto.secretsmanager.responses import SecretsManagerResponse
    from moto.server import ThreadedMotoServer

    from smrotate import observability
    from smrotate.store import SecretStore, new_client
    from smrotate.testing.aws import create_rotation_function, free_port, rotate_secret_runs

    workdir = Path(tempfile.mkdtemp(prefix="smrotate-bench-waves-"))
    users = workdir / "users.json"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_DISABLED="true",
        SMROTATE_BENCH_TARGET=str(users),
    )
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    observability.logger.setLevel("ERROR")  # the function's log lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    import boto3

    handler_store = SecretStore(new_client(boto3.session.Session(), url), cache=False)
    rotator = file_target.FileRotator(store=handler_store, env={})
    command: Counter[str] = Counter()
    function: Counter[str] = Counter()
    counting = [False]
    inside = [0.0]  # seconds spent serving RotateSecret, the function's steps included
    serving = threading.Event()
    original = SecretsManagerResponse.call_action

    def counted(self: Any) -> Any:
        action = self._get_action()
        if not counting[0]:
            return original(self)
        if serving.is_set():
            function[action] += 1
            return original(self)
        command[action] += 1
        if action != "RotateSecret":
            return original(self)
        serving.set()
        began = time.perf_counter()
        try:
            return original(self)
        finally:
            inside[0] += time.perf_counter() - began
            serving.clear()

    SecretsManagerResponse.call_action = counted  # type: ignore[method-assign]
    try:
        with rotate_secret_runs(rotator.handle):
            arn = create_rotation_function(endpoint_url=url, region_name="us-east-1")
            started = time.perf_counter()
            eligible = populate(url, options.secrets, arn, users)
            print(f"created {options.secrets} secrets in {time.perf_counter() - started:.1f} s")
            counting[0] = True
            done, elapsed = run_cli(
                url,
                "rotate",
                "--all",
                "--filter",
                "name=waves/",
                "--rate",
                options.rate,
                "--max-concurrent",
                options.max_concurrent,
            )
            counting[0] = False
            record = json.loads(done.stdout or "{}")
            passwords = json.loads(users.read_text())
            sm = boto3.client("secretsmanager", endpoint_url=url)
            wrong = []
            for name in sorted(eligible):
                value = json.loads(
                    sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
                )
                if passwords.get(value["username"]) != value["password"] or value[
                    "password"
                ].startswith("bench-password-"):
                    wrong.append(name)
    finally:
        SecretsManagerResponse.call_action = original  # type: ignore[method-assign]
        server.stop()
        users.unlink(missing_ok=True)
        workdir.rmdir()

    counts = record.get("counts", {})
    total = sum(command.values())
    print(
        f"smrotate rotate --all --rate {options.rate} --max-concurrent {options.max_concurrent}: "
        f"exit {done.returncode} in {elapsed:.1f} s (a fresh process, imports included)"
    )
    print(
        f"  {inside[0]:.1f} s of it inside RotateSecret (moto running the function's four steps); "
        f"the command's own share: {elapsed - inside[0]:.1f} s"
    )
    print(
        f"  {counts.get('rotated', 0)} rotated, {counts.get('failed', 0)} failed, "
        f"{counts.get('stuck', 0)} stuck, {counts.get('skipped', 0)} skipped; "
        f"{len(eligible) - len(wrong)} of {len(eligible)} new passwords log in"
    )
    print("  the command's requests:")
    for operation, n in sorted(command.items()):
        print(f"    {operation:<26}{n:>6}")
    print(f"    {'total':<26}{total:>6}  ({total / max(len(eligible), 1):.2f} per rotation)")
    print(
        f"  the command's own count: {sum(record.get('api_calls', {}).values())}; at the "
        f"default --rate 10 these requests take at least {total / 10:.0f} s"
    )
    print("  the function's requests (in Secrets Manager's Lambda on AWS, not the command's):")
    for operation, n in sorted(function.items()):
        print(f"    {operation:<26}{n:>6}")
    print(f"    {'total':<26}{sum(function.values()):>6}")
    ok = (
        done.returncode == 0
        and counts.get("rotated") == len(eligible)
        and not wrong
        and sum(record.get("api_calls", {}).values()) == total
    )
    if not ok:
        print(f"FAILED: {done.stderr[-2000:]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
