"""An RDS-managed master secret (username and password only) as the admin secret for MariaDB,
MySQL and Aurora MySQL: the shared code finds the instance or cluster through the secret's
tags and moto's RDS API; the rotator then talks to the suite's MariaDB."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from conftest import REGION, MakeSecret
from helpers import rotate, value
from mariadb_fixtures import MakeUser, rotator
from moto.rds.models import DBCluster, DBInstance, rds_backends

from smrotate.testing.aws import account_id
from smrotate.testing.mariadb import MariaDBServer

pytestmark = pytest.mark.mariadb


@pytest.mark.parametrize(("kind", "engine"), [("instance", "mariadb"), ("cluster", "aurora-mysql")])
def test_rds_managed_master_secret_sets_every_host_row(
    sm: Any,
    make_secret: MakeSecret,
    mariadb: MariaDBServer,
    mariadb_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    engine: str,
) -> None:
    rds = boto3.client("rds", region_name=REGION)
    if kind == "instance":
        instance = rds.create_db_instance(
            DBInstanceIdentifier="orders-db",
            Engine=engine,
            EngineVersion="10.11.6",  # moto knows no default version for mariadb
            DBInstanceClass="db.t4g.micro",
            MasterUsername="admin",
            ManageMasterUserPassword=True,
        )["DBInstance"]
        master_arn = instance["MasterUserSecret"]["SecretArn"]
        monkeypatch.setattr(DBInstance, "address", property(lambda self: mariadb.host))
        rds_backends[account_id()][REGION].databases["orders-db"].port = mariadb.port
    else:
        cluster = rds.create_db_cluster(
            DBClusterIdentifier="orders-cluster",
            Engine=engine,
            MasterUsername="admin",
            ManageMasterUserPassword=True,
        )["DBCluster"]
        master_arn = cluster["MasterUserSecret"]["SecretArn"]
        monkeypatch.setattr(DBCluster, "endpoint", property(lambda self: mariadb.host))
        rds_backends[account_id()][REGION].clusters["orders-cluster"].port = mariadb.port
    # moto makes up an rds.amazonaws.com endpoint: its model now points at the private server.
    master = value(sm, master_arn)
    assert set(master) == {"username", "password"}  # what RDS stores: no host, no port
    admin = mariadb_user(f"{master['username']}_{kind}", password=master["password"])
    # what the rotation needs: read mysql.user, and CREATE USER (for ALTER USER)
    mariadb.execute("GRANT SELECT ON mysql.* TO %s@%s", (admin.name, "%"))
    mariadb.execute("GRANT CREATE USER ON *.* TO %s@%s", (admin.name, "%"))
    sm.put_secret_value(
        SecretId=master_arn,
        SecretString=json.dumps({"username": admin.name, "password": admin.password}),
    )

    user = mariadb_user(hosts=("%", "127.0.0.1"))
    secret = mariadb.secret(user.name, user.password, masterarn=master_arn, engine=engine)
    arn = make_secret(secret)
    # the admin's TLS comes from the admin side only (its secret has no sslrootcert): the CA
    # bundle is the function's, never the user's secret's
    rotate(
        arn,
        rotator(ROTATION_STRATEGY="single-user-via-admin", DATABASE_CA_BUNDLE=str(mariadb.ca_file)),
    )
    new = value(sm, arn)["password"]
    assert mariadb.logs_in(user.name, new)
    assert not mariadb.logs_in(user.name, user.password)
    rows = mariadb.execute(
        "SELECT DISTINCT authentication_string FROM mysql.user WHERE User = %s", (user.name,)
    )
    assert len(rows) == 1  # both host rows hold the new password
