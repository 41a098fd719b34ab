"""createSecret and finishSecret never import the database driver, and setSecret does: each
shipped rotator's handler run in a fresh process proves it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smrotate.testing.patience import scaled

ROOT = Path(__file__).resolve().parent.parent

STEPS = """
import json, sys, uuid
import boto3
from moto import mock_aws
from smrotate.testing.aws import enable_rotation
module_name, engine, driver = sys.argv[1:4]
secret = {"engine": engine, "host": "localhost", "port": 1, "username": "app",
          "password": "Pw1!initial"}
seen = {}
with mock_aws():
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="app/db", SecretString=json.dumps(secret))["ARN"]
    enable_rotation("app/db")
    module = __import__(module_name, fromlist=["lambda_handler"])
    seen["import"] = driver in sys.modules
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for token, step in ((first, "createSecret"), (first, "finishSecret"),
                        (second, "createSecret"), (second, "setSecret")):
        event = {"Step": step, "SecretId": arn, "ClientRequestToken": token}
        try:
            module.lambda_handler(event, None)
        except Exception as exc:
            seen[step + " error"] = str(exc)[:40]
        seen[step] = driver in sys.modules
    labels = sm.describe_secret(SecretId=arn)["VersionIdsToStages"][first]
print(json.dumps({"labels": labels, "seen": seen}))
"""


@pytest.mark.parametrize(
    ("module", "engine", "driver"),
    [
        ("smrotate.rotators.postgresql", "postgres", "psycopg"),
        ("smrotate.rotators.mysql", "mariadb", "pymysql"),
        ("smrotate.rotators.redis", "redis", "redis"),
    ],
)
def test_only_the_steps_that_log_in_import_the_driver(
    module: str, engine: str, driver: str
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "DB_CONNECT_TIMEOUT": "2",
    }
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "SECRETS_MANAGER_ENDPOINT"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", STEPS, module, engine, driver],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["labels"] == ["AWSCURRENT"]  # createSecret and finishSecret really ran
    seen = outcome["seen"]
    assert (seen["import"], seen["createSecret"], seen["finishSecret"]) == (False, False, False)
    # setSecret talks to the database (nothing listens on port 1): now the driver is loaded
    assert seen["setSecret error"].startswith("network failure: connecting")
    assert seen["setSecret"] is True
