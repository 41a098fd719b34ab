"""`smrotate status` and `smrotate fleet` on moto server, and the health rules themselves."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto_server_fixtures import Cli, sm_client

from smrotate.operator.exit_codes import ExitCode
from smrotate.operator.health import Health, diagnose, interval, window
from smrotate.store import SecretDescription
from smrotate.testing.aws import add_valueless_pending, backend, enable_rotation

VALUE = {"username": "app", "password": "status-password-1"}
PENDING = "11111111-2222-3333-4444-555555555555"
DAY = 86400

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


def secret(url: str, name: str, *, rotation: bool = True) -> Any:
    """Create `name` and return moto's record of it (to set dates as time would)."""
    sm_client(url).create_secret(Name=name, SecretString=json.dumps(VALUE))
    if rotation:
        enable_rotation(name, days=30)
    return backend().secrets[name]


def stuck(url: str, name: str, age: int) -> Any:
    """A secret whose rotation left version PENDING `age` seconds ago."""
    record = secret(url, name)
    add_valueless_pending(name, PENDING)
    record.versions[PENDING]["createdate"] = int(time.time()) - age
    record.last_changed_date = int(time.time()) - age
    return record


def test_status_shows_settings_versions_and_a_stuck_diagnosis_with_its_repair(
    cli: Cli, moto_url: str
) -> None:
    stuck(moto_url, "app/db", 2 * 3600)
    result = cli("status", "app/db")
    assert result.code == ExitCode.ATTENTION
    out = result.out
    assert "rotation       enabled" in out
    assert "function       arn:aws:lambda:us-east-1:123456789012:function:smrotate-local" in out
    assert "schedule       every 30 days" in out
    assert f"{PENDING}  AWSPENDING  created " in out
    assert "(2 h ago)" in out
    assert "health         STUCK" in out
    assert f"version {PENDING} holds AWSPENDING but not AWSCURRENT since" in out
    assert "repair         smrotate cancel app/db --cleanup --rotator ROTATOR" in out
    assert f"smrotate run app/db --rotator ROTATOR --resume {PENDING}" in out
    assert result.err == ""


def test_a_recent_pending_version_is_in_progress_not_stuck(cli: Cli, moto_url: str) -> None:
    stuck(moto_url, "app/db", 60)
    result = cli("status", "app/db", "--output", "json")
    assert result.code == 0
    [record] = result.json()
    assert record["health"] == "in-progress"
    assert record["repair"] is None
    assert record["pending_version"] == PENDING
    assert cli("status", "app/db", "--stuck-after", "0.5").code == ExitCode.ATTENTION
    assert cli("fleet", "--stuck-after", "0.5").code == ExitCode.ATTENTION


@pytest.mark.parametrize("command", [["status", "app/db"], ["fleet"]])
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_stuck_after_must_be_a_positive_number_of_minutes(
    cli: Cli, command: list[str], value: str
) -> None:
    result = cli(*command, "--stuck-after", value)
    assert result.code == ExitCode.USAGE
    assert "--stuck-after must be" in result.err


def test_a_pending_version_with_rotation_off_is_stuck_at_once(cli: Cli, moto_url: str) -> None:
    record = stuck(moto_url, "app/db", 5)
    record.rotation_enabled = False
    result = cli("status", "app/db", "--output", "json")
    assert result.code == ExitCode.ATTENTION
    [status] = result.json()
    assert status["health"] == "stuck"
    assert "rotation is off, so nothing will finish it" in status["detail"]
    assert status["repair"] == "smrotate cancel app/db --cleanup --rotator ROTATOR"
    assert status["repair_alternative"] is None  # the rotator refuses steps while rotation is off


def test_status_json_lists_versions_with_labels_and_dates(cli: Cli, moto_url: str) -> None:
    record = secret(moto_url, "app/db")
    now = int(time.time())
    record.last_rotation_date = now - 3 * DAY
    record.next_rotation_date = now + 27 * DAY
    sm_client(moto_url).put_secret_value(
        SecretId="app/db", SecretString=json.dumps({**VALUE, "password": "status-password-2"})
    )
    result = cli("status", "app/db", "--output", "json")
    assert result.code == 0, result.err
    [status] = result.json()
    assert status["health"] == "healthy"
    assert status["rotation_enabled"] is True
    assert status["rotation_rules"] == {"AutomaticallyAfterDays": 30}
    assert status["last_rotated"].startswith(
        datetime.fromtimestamp(now - 3 * DAY, UTC).strftime("%Y-%m-%dT%H:%M")
    )
    labels = sorted(tuple(v["labels"]) for v in status["versions"])
    assert labels == [("AWSCURRENT",), ("AWSPREVIOUS",)]
    assert all(v["created"] for v in status["versions"])


def test_status_of_several_secrets_reports_each_and_the_worst_exit(cli: Cli, moto_url: str) -> None:
    secret(moto_url, "app/off", rotation=False)
    late = secret(moto_url, "app/late")
    late.last_rotation_date = int(time.time()) - 45 * DAY
    late.next_rotation_date = int(time.time()) - 15 * DAY
    result = cli("status", "app/off", "app/late", "no/such", "--output", "json")
    assert result.code == ExitCode.NOT_FOUND  # an error outranks "needs attention"
    healths = {r["name"]: r["health"] for r in result.json()}
    assert healths == {"app/off": "disabled", "app/late": "overdue"}
    assert "no/such" in result.err
    result = cli("status", "app/off", "app/late")
    assert result.code == ExitCode.ATTENTION
    assert "health         DISABLED" in result.out
    assert "health         OVERDUE" in result.out
    assert "repair         smrotate rotate app/late --wait" in result.out


def make_fleet(url: str, count: int) -> dict[str, str]:
    """`count` secrets in five healths; name -> expected health."""
    now = int(time.time())
    expected: dict[str, str] = {}
    for index in range(count):
        kind = index % 5
        name = f"fleet/{index:04d}"
        if kind == 0:
            record = secret(url, name)
            record.last_rotation_date = now - DAY
            record.next_rotation_date = now + 29 * DAY
            expected[name] = "healthy"
        elif kind == 1:
            secret(url, name, rotation=False)
            expected[name] = "disabled"
        elif kind == 2:
            secret(url, name)
            expected[name] = "never-rotated"
        elif kind == 3:
            record = secret(url, name)
            record.last_rotation_date = now - 40 * DAY
            record.next_rotation_date = now - 10 * DAY
            expected[name] = "overdue"
        else:
            stuck(url, name, 3 * 3600)
            expected[name] = "stuck"
    return expected


def test_fleet_pages_through_list_secrets_and_diagnoses_every_secret(
    cli: Cli, moto_url: str
) -> None:
    expected = make_fleet(moto_url, 230)
    calls: list[str] = []
    from moto.secretsmanager.responses import SecretsManagerResponse

    original = SecretsManagerResponse.list_secrets

    def counted(self: Any) -> str:
        calls.append(json.loads(self.body).get("NextToken") or "first")
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SecretsManagerResponse, "list_secrets", counted)
        result = cli("fleet", "--output", "json")
    assert result.code == ExitCode.ATTENTION
    assert {r["name"]: r["health"] for r in result.json()} == expected
    assert len(calls) == 3  # 100 + 100 + 30: one call per page, nothing per secret


def test_fleet_table_filters_and_summary(cli: Cli, moto_url: str) -> None:
    make_fleet(moto_url, 10)
    secret(moto_url, "other/db")
    result = cli("fleet", "--filter", "name=fleet/")
    assert result.code == ExitCode.ATTENTION
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "HEALTH", "LAST", "ROTATED", "NEXT", "ROTATION", "DETAIL"]
    assert len(lines) == 11
    assert "other/db" not in result.out
    assert f"pending {PENDING}" in result.out
    assert result.err.strip() == (
        "10 secrets: 2 stuck, 2 disabled, 2 overdue, 2 never-rotated, 2 healthy"
    )
    only = cli("fleet", "--filter", "name=fleet/", "--health", "stuck,overdue", "--output", "json")
    assert sorted({r["health"] for r in only.json()}) == ["overdue", "stuck"]
    for health in {r["health"] for r in cli("fleet", "--output", "json").json()}:
        again = cli("fleet", "--health", health, "--output", "json")  # one vocabulary
        assert {r["health"] for r in again.json()} == {health}
    calm = cli("fleet", "--filter", "name=other/")
    assert calm.code == 0
    assert calm.err.strip() == "1 secret: 1 never-rotated"


def test_fleet_includes_planned_deletions_only_when_asked(cli: Cli, moto_url: str) -> None:
    secret(moto_url, "app/kept")
    secret(moto_url, "app/gone")
    sm_client(moto_url).delete_secret(SecretId="app/gone", RecoveryWindowInDays=7)
    names = [r["name"] for r in cli("fleet", "--output", "json").json()]
    assert names == ["app/kept"]
    records = cli("fleet", "--include-planned-deletion", "--output", "json").json()
    deleted = {r["name"]: r["deleted"] for r in records}
    assert deleted["app/kept"] is None
    assert deleted["app/gone"] is not None
    assert "deleted        scheduled for deletion " in cli("status", "app/gone").out


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def described(**fields: Any) -> SecretDescription:
    base: dict[str, Any] = {
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-abcdef",
        "Name": "x",
        "RotationEnabled": True,
        "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
    }
    return SecretDescription.from_response({**base, **fields})


def test_schedule_rules_give_the_interval_and_the_window() -> None:
    assert interval({"AutomaticallyAfterDays": 7}) == timedelta(days=7)
    assert interval({"ScheduleExpression": "rate(10 days)"}) == timedelta(days=10)
    assert interval({"ScheduleExpression": "rate(4 hours)"}) == timedelta(hours=4)
    assert interval({"ScheduleExpression": "cron(0 4 ? * SUN *)"}) is None
    assert window({"ScheduleExpression": "rate(4 hours)"}) == timedelta(hours=1)
    assert window({"ScheduleExpression": "cron(0 4 ? * SUN *)", "Duration": "3h"}) == timedelta(
        hours=3
    )
    assert window({"AutomaticallyAfterDays": 7}) == timedelta(days=1)


@pytest.mark.parametrize(
    ("fields", "health"),
    [
        ({}, Health.NEVER_ROTATED),
        ({"RotationEnabled": False}, Health.DISABLED),
        (
            {
                "LastRotatedDate": NOW - timedelta(days=2),
                "RotationRules": {"AutomaticallyAfterDays": 7},
            },
            Health.HEALTHY,
        ),
        (
            {
                "LastRotatedDate": NOW - timedelta(days=9),
                "RotationRules": {"AutomaticallyAfterDays": 7},
            },
            Health.OVERDUE,
        ),
        (
            {
                "LastRotatedDate": NOW - timedelta(hours=6),
                "RotationRules": {"ScheduleExpression": "rate(4 hours)", "Duration": "1h"},
            },
            Health.OVERDUE,
        ),
        (
            {"NextRotationDate": NOW - timedelta(hours=2), "RotationRules": {"Duration": "3h"}},
            Health.NEVER_ROTATED,
        ),
        (
            {"NextRotationDate": NOW - timedelta(hours=4), "RotationRules": {"Duration": "3h"}},
            Health.OVERDUE,
        ),
        (
            {"VersionIdsToStages": {"v1": ["AWSCURRENT", "AWSPENDING"]}, "LastRotatedDate": NOW},
            Health.HEALTHY,
        ),
    ],
)
def test_health_rules(fields: dict[str, Any], health: Health) -> None:
    assert diagnose(described(**fields), NOW).health is health


def test_an_unknown_pending_age_counts_as_stuck() -> None:
    d = described(VersionIdsToStages={"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]})
    assert diagnose(d, NOW).health is Health.STUCK
    young = diagnose(d, NOW, pending_since=NOW - timedelta(minutes=3))
    assert (young.health, young.pending) == (Health.IN_PROGRESS, "v2")


# ------------------------------------------------------------------ replicas


def replicated(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """app/db in us-east-1, replicated to eu-west-1 and ap-south-1, then given a new AWSCURRENT
    that ap-south-1 does not hold (moto's replicas never lag: its answer is made to); (the old
    AWSCURRENT, the new one)."""
    from moto.secretsmanager.models import ReplicaSecret

    sm = sm_client(url)
    regions = [{"Region": "eu-west-1"}, {"Region": "ap-south-1"}]
    sm.create_secret(Name="app/db", SecretString=json.dumps(VALUE), AddReplicaRegions=regions)
    (old,) = sm.describe_secret(SecretId="app/db")["VersionIdsToStages"]
    new = str(sm.put_secret_value(SecretId="app/db", SecretString=json.dumps(VALUE))["VersionId"])
    to_dict = ReplicaSecret.to_dict

    def lagging(self: Any) -> dict[str, Any]:
        found = dict(to_dict(self))
        if self.region == "ap-south-1":
            found["VersionIdsToStages"] = {old: ["AWSCURRENT"]}
        return found

    monkeypatch.setattr(ReplicaSecret, "to_dict", lagging)
    return old, new


def test_status_shows_each_region_and_whether_it_holds_the_same_awscurrent(
    cli: Cli, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the primary: each replica region, its replication status and whether its AWSCURRENT
    is the primary's; on a replica: the primary."""
    old, new = replicated(moto_url, monkeypatch)
    shown = cli("status", "app/db")
    assert shown.code == 0, shown.err
    assert f"regions        eu-west-1  replica, InSync; AWSCURRENT is {new} (the same)" in shown.out
    assert (
        f"               ap-south-1  replica, InSync; AWSCURRENT is {old} (NOT the same: it lags "
        "behind)" in shown.out
    )
    [record] = cli("status", "app/db", "--output", "json").json()
    assert record["primary_region"] is None
    found = [
        (r["region"], r["current_version"], r["holds_same_current"]) for r in record["replicas"]
    ]
    assert found == [("eu-west-1", new, True), ("ap-south-1", old, False)]
    replica = cli("status", "app/db", "--region", "ap-south-1")
    assert replica.code == 0, replica.err
    assert (
        f"regions        us-east-1  primary; AWSCURRENT is {new} (NOT the same: this replica "
        "lags behind it)" in replica.out
    )


def test_fleet_shows_the_regions_only_when_asked(
    cli: Cli, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replicated(moto_url, monkeypatch)
    secret(moto_url, "app/other")
    assert "REGIONS" not in cli("fleet").out
    table = cli("fleet", "--replicas").out.splitlines()
    assert "REGIONS" in table[0]
    rows = {line.split()[0]: line for line in table[1:]}
    assert "eu-west-1 same, ap-south-1 LAGS" in rows["app/db"]
    assert rows["app/other"].split()[-1] == "-"
    records = {r["name"]: r for r in cli("fleet", "--replicas", "--output", "json").json()}
    assert [r["holds_same_current"] for r in records["app/db"]["replicas"]] == [True, False]
    assert records["app/other"]["replicas"] == []
    assert "replicas" not in cli("fleet", "--output", "json").json()[0]


def test_status_of_a_secret_without_replicas_lists_no_region(cli: Cli, moto_url: str) -> None:
    secret(moto_url, "app/db")
    result = cli("status", "app/db", "--output", "json")
    assert result.json()[0]["replicas"] == []
    assert "regions" not in cli("status", "app/db").out
