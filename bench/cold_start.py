"""Cold steps: each rotation step of the PostgreSQL rotator in a fresh Python process (a cold
Lambda), side by side with a baseline the benchmark builds itself, in the same run.

The baseline is a plain handler: `import boto3`, one Secrets Manager client, then the same
Secrets Manager operations the smrotate step made (recorded from the step through botocore's
event hooks), with equivalent parameters on a secret of its own. So the difference is what
smrotate adds: its imports (Powertools, its modules), its checks and its logging. Both talk
to one moto server on loopback. The steps measured are createSecret and finishSecret, which
touch only Secrets Manager; the database steps add the driver and the server on both sides
alike (their cold times are in bench/rotation.py).

Prints, per step: smrotate's time from process start to the end of the step, the baseline's,
their ratio (median of N runs), the modules loaded, and smrotate's import time per top-level
package (from `python -X importtime`).

Usage: python bench/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

from smrotate.testing.aws import FAKE_ENV  # noqa: E402 - after the path is set

os.environ.update(FAKE_ENV, POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true")

# Runs in a fresh interpreter: the step, the operations it called, its time and modules.
SMROTATE_STEP = """
import json, sys, time
started = time.perf_counter()
calls = []
from smrotate.rotators.postgresql import lambda_handler
from smrotate.store import SecretStore
hook = lambda model, **_: calls.append(model.name)
SecretStore().client.meta.events.register("before-call.secretsmanager", hook)
lambda_handler(json.loads(sys.argv[1]))
done = time.perf_counter()
print(json.dumps({"ms": (done - started) * 1000, "calls": calls, "modules": len(sys.modules)}))
"""

# The baseline: boto3 and the same operations, on its own secret.
BASELINE_STEP = """
import json, sys, time, uuid
started = time.perf_counter()
import boto3
client = boto3.client("secretsmanager")
arn, calls = sys.argv[1], json.loads(sys.argv[2])
versions = [v["VersionId"] for v in client.list_secret_version_ids(SecretId=arn)["Versions"]]
for name in calls:
    if name == "DescribeSecret":
        client.describe_secret(SecretId=arn)
    elif name == "GetSecretValue":
        client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    elif name == "PutSecretValue":
        client.put_secret_value(SecretId=arn, ClientRequestToken=str(uuid.uuid4()),
                                SecretString='{"username": "u", "password": "p"}',
                                VersionStages=["baseline"])
    elif name == "UpdateSecretVersionStage":
        client.update_secret_version_stage(SecretId=arn, VersionStage="baseline-moved",
                                           MoveToVersionId=versions[0])
    elif name == "GetRandomPassword":
        client.get_random_password(PasswordLength=32)
    elif name == "ListSecretVersionIds":
        client.list_secret_version_ids(SecretId=arn)
    else:
        raise SystemExit(f"the baseline does not know {name}")
done = time.perf_counter()
print(json.dumps({"ms": (done - started) * 1000, "modules": len(sys.modules)}))
"""


def run(code: str, *args: str, env: dict[str, str], importtime: bool = False) -> dict[str, Any]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code, *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["importtime"] = done.stderr
    return result


def import_ms_by_package(stderr: str) -> dict[str, float]:
    """Self import time (ms) per top-level package, from `-X importtime` output."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if match := re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line):
            package = match[2].split(".")[0]
            found[package] = found.get(package, 0.0) + int(match[1]) / 1000
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per step and side")
    args = parser.parse_args(argv)

    import boto3
    from moto.server import ThreadedMotoServer

    from smrotate.testing.aws import enable_rotation, free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SECRETS_MANAGER_ENDPOINT": endpoint}
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint  # the baseline's boto3 client
        sm = boto3.client("secretsmanager", endpoint_url=endpoint)
        value = {
            "engine": "postgres",
            "host": "db.invalid",
            "username": "app",
            "password": "x" * 16,
        }
        baseline = sm.create_secret(Name="bench/baseline", SecretString=json.dumps(value))["ARN"]
        rows: list[str] = []
        packages: dict[str, float] = {}
        for step in ("createSecret", "finishSecret"):
            ours, theirs, modules = [], [], (0, 0)
            for n in range(args.runs):
                arn = sm.create_secret(
                    Name=f"bench/cold-{step}-{n}", SecretString=json.dumps(value)
                )["ARN"]
                enable_rotation(arn)
                token = str(uuid.uuid4())
                if step == "finishSecret":  # a rotation whose test passed: AWSPENDING is set
                    sm.put_secret_value(
                        SecretId=arn, ClientRequestToken=token,
                        SecretString=json.dumps({**value, "password": "y" * 16}),
                        VersionStages=["AWSPENDING"],
                    )  # fmt: skip
                event = json.dumps({"Step": step, "SecretId": arn, "ClientRequestToken": token})
                measured = run(SMROTATE_STEP, event, env=env, importtime=n == 0)
                if n == 0:
                    packages = import_ms_by_package(measured["importtime"])
                    continue  # the -X importtime run is not timed
                plain = run(BASELINE_STEP, baseline, json.dumps(measured["calls"]), env=env)
                ours.append(measured["ms"])
                theirs.append(plain["ms"])
                modules = (measured["modules"], plain["modules"])
            ratio = statistics.median(ours) / statistics.median(theirs)
            rows.append(
                f"{step:<14}{statistics.median(ours):>12.0f}{statistics.median(theirs):>12.0f}"
                f"{ratio:>8.2f}x{modules[0]:>10}{modules[1]:>10}   {' '.join(measured['calls'])}"
            )
            ranked = sorted(packages.items(), key=lambda item: -item[1])[:6]
            top = ", ".join(f"{name} {ms:.0f}" for name, ms in ranked)
            rows.append(f"{'':<14}import ms by package (smrotate side): {top}")
    finally:
        moto.stop()
    print(f"cold steps, median of {args.runs - 1} fresh processes each, moto server on loopback\n")
    print(
        f"{'step':<14}{'smrotate ms':>12}{'boto3 ms':>12}{'ratio':>9}"
        f"{'modules':>10}{'(boto3)':>10}   Secrets Manager calls"
    )
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
