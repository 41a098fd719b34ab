"""An RDS-managed master secret (username and password only) as the admin secret: the rotator
finds the instance or cluster through the secret's tags and moto's RDS API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from conftest import REGION, MakeSecret
from helpers import rotate, value
from moto.rds.models import DBCluster, DBInstance, rds_backends
from pg_fixtures import PgUser
from pg_helpers import alter_role_lines, log_window, rotator

from smrotate.testing.aws import account_id
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres
MakeUser = Callable[..., PgUser]


@pytest.mark.parametrize("kind", ["instance", "cluster"])
def test_rds_managed_master_secret_sets_the_password(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    rds = boto3.client("rds", region_name=REGION)
    backend = rds_backends[account_id()][REGION]
    # moto makes up an rds.amazonaws.com endpoint: point its in-process model at the private
    # server instead (the class's address property, the model object's port).
    made: dict[str, Any]
    if kind == "instance":
        made = dict(
            rds.create_db_instance(
                DBInstanceIdentifier="orders-db",
                Engine="postgres",
                DBInstanceClass="db.t4g.micro",
                MasterUsername="postgres",
                ManageMasterUserPassword=True,
            )["DBInstance"]
        )
        monkeypatch.setattr(DBInstance, "address", property(lambda self: pg.host))
        backend.databases["orders-db"].port = pg.port
    else:
        made = dict(
            rds.create_db_cluster(
                DBClusterIdentifier="orders-cluster",
                Engine="aurora-postgresql",
                MasterUsername="postgres",
                ManageMasterUserPassword=True,
            )["DBCluster"]
        )
        monkeypatch.setattr(DBCluster, "endpoint", property(lambda self: pg.host))
        backend.clusters["orders-cluster"].port = pg.port
    master_arn = made["MasterUserSecret"]["SecretArn"]
    master = value(sm, master_arn)
    assert set(master) == {"username", "password"}  # what RDS stores: no host, no port
    admin = pg_user(f"{master['username']}_{kind}", "CREATEROLE")  # an RDS master is no superuser
    pg.set_password(admin.name, master["password"])
    sm.put_secret_value(
        SecretId=master_arn,
        SecretString=json.dumps({"username": admin.name, "password": master["password"]}),
    )

    user = pg_user()
    arn = make_secret(pg.secret(user.name, user.password, masterarn=master_arn))
    # An RDS-managed admin secret has no TLS settings, and the user's never lend it theirs:
    # the admin's CA bundle comes from the function's environment (on AWS: the RDS bundle).
    env = {"ROTATION_STRATEGY": "single-user-via-admin", "DATABASE_CA_BUNDLE": str(pg.ca_file)}
    with log_window(pg) as log:
        rotate(arn, rotator(**env))
    [statement] = alter_role_lines(log, user.name)
    assert f"{admin.name}@postgres" in statement
    assert pg.logs_in(user.name, value(sm, arn)["password"])
    assert not pg.logs_in(user.name, user.password)
