"""Secrets Manager API calls per single-user rotation, by operation.

Runs one full rotation through the local driver against moto server on loopback and counts the
requests the rotation function sends (the driver's own DescribeSecret is counted apart: on AWS
that is RotateSecret's work, not the function's). Three runs:

- warm, local token: one process for the four steps; the token's version does not exist yet
  (how `smrotate run` starts a rotation);
- warm, RotateSecret token: as on AWS, the token's version exists without a value;
- cold: each step in a fresh Python process (a cold Lambda per step), RotateSecret token.

Usage: python bench/api_calls.py
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from smrotate.testing.aws import FAKE_ENV  # noqa: E402 - after the path is set

os.environ.update(FAKE_ENV, POWERTOOLS_LOG_LEVEL="WARNING")

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
COUNT_STEP = """
import json, os, sys
from collections import Counter
from smrotate.store import default_client
calls = Counter()
default_client().meta.events.register(
    "before-call.secrets-manager", lambda model, **_: calls.update([model.name]))
import file_target
file_target.lambda_handler(json.loads(sys.argv[1]), None)
print(json.dumps(calls))
"""


def table(title: str, calls: Counter[str], driver: int) -> None:
    print(f"\n{title}")
    for operation, count in sorted(calls.items()):
        print(f"  {operation:<26}{count:>3}")
    print(f"  {'total (rotation function)':<26}{sum(calls.values()):>3}")
    print(f"  {'driver DescribeSecret':<26}{driver:>3}  (RotateSecret's part on AWS)")


def main() -> None:
    from moto.server import ThreadedMotoServer

    from smrotate.testing.aws import add_valueless_pending, enable_rotation, free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["SECRETS_MANAGER_ENDPOINT"] = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="smrotate-bench-"))
    target = workdir / "users.json"
    target.write_text(json.dumps({"app": "initial-password-1"}))
    os.environ["SMROTATE_BENCH_TARGET"] = str(target)
    try:
        import boto3
        import file_target

        from smrotate.operator.driver import LocalDriver
        from smrotate.store import SecretStore, default_client, forget_cached_values

        sm = boto3.client("secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"])
        arn = sm.create_secret(
            Name="bench/app",
            SecretString=json.dumps({"username": "app", "password": "initial-password-1"}),
        )["ARN"]
        enable_rotation(arn)

        calls: Counter[str] = Counter()
        default_client().meta.events.register(
            "before-call.secrets-manager", lambda model, **_: calls.update([model.name])
        )
        driver_calls: Counter[str] = Counter()
        driver_client = boto3.client(
            "secretsmanager", endpoint_url=os.environ["SECRETS_MANAGER_ENDPOINT"]
        )
        driver_client.meta.events.register(
            "before-call.secrets-manager", lambda model, **_: driver_calls.update([model.name])
        )
        driver = LocalDriver(file_target.lambda_handler, SecretStore(driver_client))

        started = time.perf_counter()
        result = driver.rotate(arn)
        elapsed = time.perf_counter() - started
        assert result.ok, result.error
        table("warm process, token made by the local driver", calls, sum(driver_calls.values()))
        warm_local = sum(calls.values())

        def valueless_pending() -> str:
            token = str(uuid.uuid4())
            add_valueless_pending(arn, token)
            return token

        calls.clear()
        forget_cached_values()  # as a new warm process would start
        token = valueless_pending()
        for step in STEPS:
            file_target.lambda_handler(
                {"Step": step, "SecretId": arn, "ClientRequestToken": token}, None
            )
        table("warm process, token made by RotateSecret (the AWS path)", calls, 0)
        warm_aws = sum(calls.values())

        cold: Counter[str] = Counter()
        token = valueless_pending()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
        for step in STEPS:
            event = json.dumps({"Step": step, "SecretId": arn, "ClientRequestToken": token})
            out = subprocess.run(
                [sys.executable, "-c", COUNT_STEP, event],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            cold.update(json.loads(out.strip().splitlines()[-1]))
        table("a fresh process per step, token made by RotateSecret", cold, 0)

        print(
            f"\nsummary: warm {warm_local} (local token) / {warm_aws} (RotateSecret token), "
            f"cold {sum(cold.values())}"
        )
        print(f"one warm rotation took {elapsed * 1000:.0f} ms against moto server on loopback")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
