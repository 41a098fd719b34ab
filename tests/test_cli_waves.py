"""`smrotate rotate --all`: rotations in waves on moto server, with a rotation function whose
rotations really run (moto's RotateSecret drives SharedTargetRotator on the in-memory target).

Every request the CLI sends is recorded at the server with the fake clock's time, apart from
the function's own (they arrive while RotateSecret is being served), so the tests see which
secrets were started and how fast the requests came. No test waits in real time.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clock_fixtures import FakeClock
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.secretsmanager.responses import SecretsManagerResponse
from moto_server_fixtures import Cli, MotoLambda, sm_client
from pg_fixtures import PgUser

from smrotate import observability
from smrotate.operator import watch
from smrotate.operator.exit_codes import ExitCode
from smrotate.operator.fleet import FleetEntry
from smrotate.operator.health import Diagnosis, Health
from smrotate.operator.progress import Progress
from smrotate.operator.waves import Result, TokenBucket, Waves, WaveSettings, plan
from smrotate.store import SecretDescription, SecretStore
from smrotate.testing.aws import (
    REGION,
    add_valueless_pending,
    backend,
    create_rotation_function,
    enable_rotation,
    labels,
    rotate_secret_runs,
)
from smrotate.testing.postgres import PostgresServer

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


@dataclass
class Requests:
    """The CLI's requests at the server: (operation, SecretId, fake time)."""

    all_seen: list[tuple[str, str | None, float]] = field(default_factory=list)

    @property
    def seen(self) -> list[tuple[str, str | None, float]]:
        """The requests from the first ListSecrets on (the test's own set-up left out)."""
        ops = [op for op, _, _ in self.all_seen]
        return self.all_seen[ops.index("ListSecrets") :] if "ListSecrets" in ops else []

    def of(self, operation: str) -> list[str | None]:
        return [secret for op, secret, _ in self.seen if op == operation]

    def started(self) -> set[str]:
        """The names of the secrets RotateSecret was sent for (the CLI sends ARNs)."""
        return {str(arn).split(":")[-1].rsplit("-", 1)[0] for arn in self.of("RotateSecret")}


@pytest.fixture
def requests(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Requests:
    """Record the CLI's requests; the function's (sent while a RotateSecret is served) are not."""
    found = Requests()
    serving = threading.Event()
    original = SecretsManagerResponse.call_action

    def recorded(self: Any) -> Any:
        action = self._get_action()
        if serving.is_set():
            return original(self)
        found.all_seen.append((action, self._get_param("SecretId"), clock.t))
        if action != "RotateSecret":
            return original(self)
        serving.set()
        try:
            return original(self)
        finally:
            serving.clear()

    monkeypatch.setattr(SecretsManagerResponse, "call_action", recorded)
    return found


@contextmanager
def function_skips(names: set[str], *, drop_pending: bool = False) -> Iterator[None]:
    """The function does nothing for the secrets in `names` (their rotations stay pending), or,
    with `drop_pending`, takes AWSPENDING off them (cancelled under the watch)."""
    patched = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, **kwargs: Any) -> Any:
        event = json.loads(body)
        if event["SecretId"] not in names:
            return patched(self, function_name, qualifier, body, **kwargs)
        if drop_pending and event["Step"] == "finishSecret":
            backend().secrets[event["SecretId"]].remove_version_stages_from_old_versions(
                ["AWSPENDING"]
            )
        return b"null"

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = patched  # type: ignore[method-assign]


MakeSecrets = Callable[..., list[str]]


@pytest.fixture
def make_secrets(moto_url: str, moto_lambda: MotoLambda) -> MakeSecrets:
    """`make(*names, broken=...)`: secrets with rotation on through the test's function, each
    with its own user on the target; a broken one's user has another password there, so its
    rotation fails at setSecret."""
    sm = sm_client(moto_url)

    def make(*names: str, broken: tuple[str, ...] = (), rotation: bool = True) -> list[str]:
        for index, name in enumerate(names):
            user = f"user{len(moto_lambda.target.passwords)}-{index}"
            password = f"initial-password-{user}"
            sm.create_secret(
                Name=name, SecretString=json.dumps({"username": user, "password": password})
            )
            if rotation:
                enable_rotation(name, function_arn=moto_lambda.function_arn)
            moto_lambda.target.passwords[user] = "changed-elsewhere" if name in broken else password
        return list(names)

    return make


def rows(out: str) -> dict[str, list[str]]:
    """The summary table: name -> its other cells."""
    lines = out.strip().splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_rotates_the_eligible_secrets_and_never_starts_the_others(
    cli: Cli, moto_url: str, make_secrets: MakeSecrets, requests: Requests, moto_lambda: MotoLambda
) -> None:
    make_secrets("app/a", "app/b", "app/c", "other/x", "app/stuck", "app/deleted", "app/recent")
    make_secrets("app/off", rotation=False)
    add_valueless_pending("app/stuck", "00000000-0000-4000-8000-00000000dead")
    backend().secrets["app/stuck"].last_changed_date = int(time.time()) - 3 * 3600
    sm_client(moto_url).delete_secret(SecretId="app/deleted", RecoveryWindowInDays=7)
    backend().secrets["app/recent"].last_rotation_date = int(time.time()) - 3600
    before = {name: labels(name) for name in ("app/stuck", "app/recent", "app/off")}

    result = cli("rotate", "--all", "--filter", "name=app/", "--max-concurrent", "2")

    assert result.code == 0, result.err
    assert requests.started() == {"app/a", "app/b", "app/c"}
    described = {str(arn).split(":")[-1].rsplit("-", 1)[0] for arn in requests.of("DescribeSecret")}
    assert described == {"app/a", "app/b", "app/c"}  # nothing per skipped secret
    assert requests.of("ListSecrets") == [None]
    table = rows(result.out)
    assert set(table) == {f"app/{n}" for n in ("a", "b", "c", "stuck", "deleted", "recent", "off")}
    for name in ("app/a", "app/b", "app/c"):
        assert table[name][0] == "rotated"
        token = table[name][2]
        assert labels(name)[token] == ["AWSCURRENT"]
        current = json.loads(
            sm_client(moto_url).get_secret_value(SecretId=name, VersionStage="AWSCURRENT")[
                "SecretString"
            ]
        )
        assert moto_lambda.target.check(current["username"], current["password"])
    assert table["app/a"][1] == "canary"
    assert table["app/b"][1] == "main"
    details = {name: " ".join(cells[3:]) for name, cells in table.items()}
    assert details["app/stuck"].startswith("stuck: version 00000000-0000-4000-8000-00000000dead")
    assert details["app/deleted"].startswith("scheduled for deletion")
    assert "less than --min-interval 24 h ago" in details["app/recent"]
    assert details["app/off"] == "rotation is off"
    for name in ("app/stuck", "app/recent", "app/off", "app/deleted"):
        assert table[name][:3] == ["skipped", "-", "-"]
    assert {name: labels(name) for name in before} == before
    assert "7 secrets: 3 started (3 rotated), 4 skipped" in result.err
    assert "canary: rotating 1 secret(s) first: app/a" in result.err


def test_dry_run_starts_nothing_and_lists_what_would_start(
    cli: Cli, make_secrets: MakeSecrets, requests: Requests
) -> None:
    make_secrets("app/a", "app/b")
    make_secrets("app/off", rotation=False)
    result = cli("rotate", "--dry-run", "--output", "json")
    assert result.code == 0, result.err
    assert [op for op, _, _ in requests.seen] == ["ListSecrets"]
    record = result.json()
    assert record["dry_run"] is True
    assert record["api_calls"] == {"ListSecrets": 1}
    assert {s["name"]: s["result"] for s in record["secrets"]} == {
        "app/a": "would start",
        "app/b": "would start",
        "app/off": "skipped",
    }
    assert record["counts"]["would_start"] == 2
    assert record["counts"]["started"] == 0


def test_a_failing_canary_stops_everything(
    cli: Cli,
    make_secrets: MakeSecrets,
    requests: Requests,
    moto_lambda: MotoLambda,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # moto fails RotateSecret itself (HTTP 500)
    make_secrets("app/a", "app/b", "app/c", broken=("app/a",))
    result = cli("rotate", "--all", "--output", "json")
    assert result.code == ExitCode.ROTATION_FAILED
    assert requests.started() == {"app/a"}
    record = result.json()
    assert record["stopped"] == "the canary failed"
    results = {s["name"]: (s["result"], s["detail"]) for s in record["secrets"]}
    assert results["app/a"][0] == "failed"
    assert "RotateSecret on secret" in results["app/a"][1]
    assert results["app/b"] == ("not started", "not started: the canary failed")
    assert results["app/c"] == ("not started", "not started: the canary failed")
    assert moto_lambda.failures == ["setSecret"]


@pytest.mark.parametrize(("max_failures", "started"), [(0, 3), (1, 5)])
def test_failures_past_max_failures_stop_the_waves(
    cli: Cli,
    make_secrets: MakeSecrets,
    requests: Requests,
    monkeypatch: pytest.MonkeyPatch,
    max_failures: int,
    started: int,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    names = make_secrets(*(f"app/s{i}" for i in range(7)), broken=("app/s2", "app/s4"))
    result = cli("rotate", "--all", "--max-concurrent", "1", "--max-failures", str(max_failures))
    assert result.code == ExitCode.ROTATION_FAILED
    assert requests.started() == set(names[:started])
    assert [line.split()[1:3] for line in result.out.splitlines()[1 + started :]] == [
        ["not", "started"]
    ] * (7 - started)
    assert f"more than --max-failures {max_failures}" in result.err


def test_a_rotation_left_pending_is_stuck_and_one_cancelled_under_it_failed(
    cli: Cli, make_secrets: MakeSecrets, requests: Requests, clock: FakeClock
) -> None:
    make_secrets("app/a", "app/pending", "app/gone", "app/d")
    with function_skips({"app/pending"}), function_skips({"app/gone"}, drop_pending=True):
        result = cli(
            "rotate", "--all", "--max-failures", "5", "--stuck-after", "1", "--output", "json"
        )
    assert result.code == ExitCode.ROTATION_FAILED
    record = result.json()
    results = {s["name"]: s for s in record["secrets"]}
    assert results["app/a"]["result"] == "rotated"
    assert results["app/d"]["result"] == "rotated"
    stuck = results["app/pending"]
    assert stuck["result"] == "stuck"
    assert "still holds AWSPENDING 60 s after RotateSecret" in stuck["detail"]
    assert "log group /aws/lambda/smrotate-rotator" in stuck["detail"]
    assert labels("app/pending")[stuck["version_id"]] == ["AWSPENDING"]
    gone = results["app/gone"]
    assert gone["result"] == "failed"
    assert "lost AWSPENDING without becoming AWSCURRENT" in gone["detail"]
    assert (record["counts"]["rotated"], record["counts"]["failed"]) == (2, 1)
    assert record["counts"]["stuck"] == 1
    assert record["counts"]["started"] == 4
    assert clock.t >= 60


def test_the_rate_cap_spaces_every_request(
    cli: Cli, make_secrets: MakeSecrets, requests: Requests
) -> None:
    make_secrets(*(f"app/s{i}" for i in range(6)))
    result = cli("rotate", "--all", "--rate", "4", "--max-concurrent", "3", "--output", "json")
    assert result.code == 0, result.err
    times = [t for _, _, t in requests.seen]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.25 - 1e-9
    record = result.json()
    assert sum(record["api_calls"].values()) == len(requests.seen)  # every request was counted
    assert record["api_calls"]["RotateSecret"] == 6


def test_the_token_bucket_waits_on_its_clock() -> None:
    fake = FakeClock()
    bucket = TokenBucket(2.0, watch.Clock(now=fake.now, sleep=fake.sleep))
    moments = []
    for _ in range(5):
        bucket.take("DescribeSecret")
        moments.append(fake.t)
    assert moments == [0.0, 0.5, 1.0, 1.5, 2.0]
    fake.t += 10  # idle: one token, no more (no burst)
    bucket.take("DescribeSecret")
    bucket.take("DescribeSecret")
    assert fake.t == 12.5
    assert bucket.calls == {"DescribeSecret": 7}


def test_progress_redraws_one_line_on_a_terminal_and_writes_heartbeats_elsewhere() -> None:
    fake = FakeClock()
    tty = io.StringIO()
    bar = Progress(4, stream=tty, tty=True, now=fake.now)
    bar.show(1, 1, 0, 2)
    bar.message("FAILED app/x: something")
    bar.close()
    assert tty.getvalue() == (
        "\r\x1b[K[######------------------] 1/4 done: 1 rotated, 0 failed; 2 running; 0 s"
        "\r\x1b[KFAILED app/x: something\n"
        "[######------------------] 1/4 done: 1 rotated, 0 failed; 2 running; 0 s"
        "\r\x1b[K"
    )
    log = io.StringIO()
    lines = Progress(4, stream=log, tty=False, now=fake.now)
    for _ in range(4):
        lines.show(2, 2, 0, 1)
        fake.t += 20
    assert log.getvalue().splitlines() == [
        "2/4 done: 2 rotated, 0 failed; 1 running; 0 s",
        "2/4 done: 2 rotated, 0 failed; 1 running; 40 s",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rotate",), "give SECRET_ID, or --all"),
        (("rotate", "--filter", "name=app/"), "give SECRET_ID, or --all"),
        (("rotate", "app/db", "--all"), "--all is for many secrets"),
        (("rotate", "app/db", "--max-failures", "0"), "--max-failures is for many secrets"),
        (("rotate", "app/db", "--dry-run"), "--dry-run is for many secrets"),
        (("rotate", "--all", "--stall", "30"), "--stall is for one secret"),
        (("rotate", "--all", "--days", "7"), "--days is for one secret"),
        (("rotate", "--all", "--wait"), "--wait is for one secret"),
        (("rotate", "--all", "--filter", "colour=red"), "is not KEY=VALUE"),
        (("rotate", "--all", "--min-interval", "soon"), "--min-interval is a length"),
    ],
)
def test_usage_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.code == ExitCode.USAGE
    assert message in result.err


def test_waves_rotate_real_postgresql_passwords(
    cli: Cli,
    moto_url: str,
    pg: PostgresServer,
    pg_user: Callable[..., PgUser],
    requests: Requests,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smrotate.rotators.postgresql import PostgreSQLRotator

    monkeypatch.setattr(observability, "_stream_name", "stderr")  # the function's log lines
    users = {f"pg/app-{i}": pg_user() for i in range(3)}
    rotator = PostgreSQLRotator(store=SecretStore(sm_client(moto_url), cache=False), env={})
    sm = sm_client(moto_url)
    with rotate_secret_runs(rotator.handle):
        function = create_rotation_function(endpoint_url=moto_url, region_name=REGION)
        for name, user in users.items():
            sm.create_secret(
                Name=name, SecretString=json.dumps(pg.secret(user.name, user.password))
            )
            enable_rotation(name, function_arn=function)
        result = cli("rotate", "--all", "--filter", "name=pg/", "--max-concurrent", "2")
    assert result.code == 0, result.err
    assert requests.started() == set(users)
    for name, user in users.items():
        current = json.loads(
            sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"]
        )
        assert current["password"] != user.password
        assert pg.logs_in(user.name, current["password"])
        assert not pg.logs_in(user.name, user.password)


class InterruptedStore(SecretStore):
    """RotateSecret succeeds; the first DescribeSecret is interrupted (Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__(client=None)
        self.started: list[str] = []

    def start_rotation(self, secret_id: str, **kwargs: Any) -> str:
        self.started.append(secret_id)
        return str(kwargs["token"])

    def describe(self, secret_id: str) -> SecretDescription:
        raise KeyboardInterrupt


def test_ctrl_c_leaves_the_started_rotations_running_and_says_so() -> None:
    fake = FakeClock()
    entries = [
        FleetEntry(
            SecretDescription(f"arn:{n}", n, True, "arn:aws:lambda:us-east-1:1:function:f"),
            Diagnosis(Health.NEVER_ROTATED, ""),
        )
        for n in ("a", "b", "c")
    ]
    items = plan(entries, datetime.now(UTC), timedelta(days=1), canary=0)
    store = InterruptedStore()
    waves = Waves(
        store, items, WaveSettings(canary=0, max_concurrent=2), watch.Clock(fake.now, fake.sleep)
    )
    waves.run()
    assert waves.stopped == "interrupted"
    assert store.started == ["arn:a", "arn:b"]
    assert [i.result for i in items] == [Result.RUNNING, Result.RUNNING, Result.NOT_STARTED]
    assert "it goes on in Secrets Manager; smrotate status a shows how it ends" in " ".join(
        items[0].detail.split()
    )


def test_a_query_gets_the_record(cli: Cli, make_secrets: MakeSecrets, requests: Requests) -> None:
    make_secrets("app/a", "app/b")
    result = cli("rotate", "--dry-run", "--query", "counts.would_start", "--output", "json")
    assert result.code == 0, result.err
    assert result.json() == 2
