"""The IAM access-key rotator on moto's IAM, with STS refusing unknown, inactive and deleted keys
(smrotate.testing.iam.sts_checks_keys): the key lifecycle, crashes around every IAM write on both
paths (RotateSecret's token and a local run's), secrets that name another user or hold another
user's key, bad input, the documented policy under moto's IAM enforcement, and no secret access
key in any log, error or output. Nothing here sleeps: the waits run on a fake clock."""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import REGION, MakeSecret, moto_backend
from helpers import rotate, step_event

import smrotate.rotators.iam_keys.keys as keys_module
from smrotate import redaction
from smrotate.errors import (
    ConfigurationError,
    Failure,
    IdentityMismatchError,
    LoginRefusedError,
    RotationInProgressError,
    SecretFormatError,
    TargetError,
)
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rotators.iam_keys import CREATING_TAG, IamAccessKeyRotator
from smrotate.store import Secret, reset_clients
from smrotate.testing.aws import add_valueless_pending, create_rotation_function, rotate_secret_runs
from smrotate.testing.iam import (
    UserKey,
    add_key,
    create_user,
    identity,
    key_states,
    sts_checks_keys,
)
from smrotate.testing.kit.injection import Injector, SimulatedCrash
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject
from smrotate.testing.kit.world import World

USER = "app-user"
DOC = Path(__file__).resolve().parent.parent / "docs" / "iam-keys.md"


@pytest.fixture
def iam(sm: Any) -> Iterator[Any]:
    """moto's IAM (with Secrets Manager), STS refusing bad keys."""
    with sts_checks_keys():
        yield boto3.client("iam", region_name=REGION)


@pytest.fixture(autouse=True)
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The rotator's pauses, recorded instead of slept."""
    found: list[float] = []
    monkeypatch.setattr(keys_module, "sleep", found.append)
    return found


def rotator(**env: str) -> IamAccessKeyRotator:
    return IamAccessKeyRotator(env={"IAM_USER_NAME": USER, **env})


def labelled_keys(arn: str) -> dict[str, set[str]]:
    """Access key id -> labels, over the secret's labelled versions (read straight from moto)."""
    found: dict[str, set[str]] = {}
    for version in moto_backend().secrets[arn].versions.values():
        if version["version_stages"] and version.get("secret_string"):
            key = json.loads(version["secret_string"])["access_key_id"]
            found.setdefault(key, set()).update(version["version_stages"])
    return found


def value(arn: str, label: str = "AWSCURRENT") -> Secret:
    sm = boto3.client("secretsmanager", region_name=REGION)
    return dict(json.loads(sm.get_secret_value(SecretId=arn, VersionStage=label)["SecretString"]))


def logs_in(secret: Secret, user: UserKey) -> bool:
    return identity(secret["access_key_id"], secret["secret_access_key"]) == user.arn


def app(make_secret: MakeSecret, **extra: Any) -> tuple[UserKey, str]:
    user = create_user(USER, path="/app/")
    return user, make_secret(user.secret(**extra))


# ------------------------------------------------------------------ STS really checks keys


def test_sts_refuses_made_up_deactivated_deleted_keys_and_wrong_secrets(iam: Any) -> None:
    user = create_user(USER, path="/app/")
    assert identity(user.access_key_id, user.secret_access_key) == user.arn
    assert identity("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") is None
    assert identity(user.access_key_id, user.secret_access_key[:-1] + "x") is None
    iam.update_access_key(UserName=USER, AccessKeyId=user.access_key_id, Status="Inactive")
    assert identity(user.access_key_id, user.secret_access_key) is None
    iam.update_access_key(UserName=USER, AccessKeyId=user.access_key_id, Status="Active")
    assert identity(user.access_key_id, user.secret_access_key) == user.arn
    iam.delete_access_key(UserName=USER, AccessKeyId=user.access_key_id)
    assert identity(user.access_key_id, user.secret_access_key) is None


def test_without_the_helper_moto_accepts_any_key(sm: Any) -> None:
    """Why the helper exists: moto's STS alone would make every proof pass."""
    assert identity("AKIAIOSFODNN7EXAMPLE", "any-secret") is not None


# ------------------------------------------------------------------ the lifecycle


@pytest.mark.parametrize("deactivate", ["false", "true"])
def test_three_rotations_follow_the_lifecycle(
    iam: Any, make_secret: MakeSecret, deactivate: str
) -> None:
    user, arn = app(make_secret, region="eu-west-1")
    history = [user.secret(region="eu-west-1")]
    for n in range(3):
        rotate(arn, rotator(IAM_DEACTIVATE_PREVIOUS=deactivate))
        new, old = value(arn), history[-1]
        history.append(new)
        assert new["region"] == "eu-west-1"
        assert new["username"] == USER
        assert new["access_key_id"] != old["access_key_id"]
        assert logs_in(new, user)
        assert logs_in(old, user) is (deactivate == "false")  # AWSPREVIOUS's key
        states = key_states(USER)
        assert states == {
            new["access_key_id"]: "Active",
            old["access_key_id"]: "Active" if deactivate == "false" else "Inactive",
        }
        assert set(states) == set(labelled_keys(arn))  # exactly the keys the versions hold
        if n:
            assert not logs_in(history[-3], user)  # deleted by this rotation's createSecret
            assert history[-3]["access_key_id"] not in states


def test_the_handler_through_rotate_secret(
    iam: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS path: RotateSecret makes the value-less AWSPENDING version and invokes the
    module's `lambda_handler` for the four steps; no user tag is written on that path."""
    from smrotate.rotators.iam_keys import lambda_handler

    monkeypatch.setenv("IAM_USER_NAME", USER)
    user, arn = app(make_secret)
    sm = boto3.client("secretsmanager", region_name=REGION)

    def invoke(event: dict[str, Any]) -> None:
        lambda_handler(event, None)

    with rotate_secret_runs(invoke):
        function = create_rotation_function("iam-rotator")
        for _ in range(3):
            sm.rotate_secret(SecretId=arn, RotationLambdaARN=function)
            assert logs_in(value(arn), user)
    assert set(key_states(USER)) == set(labelled_keys(arn))
    assert iam.list_user_tags(UserName=USER)["Tags"] == []


# ------------------------------------------------------------------ room for the new key


def make_old(access_key_id: str, minutes: int = 20) -> None:
    """Backdate a moto key's creation date."""
    from moto.iam.models import iam_backends

    from smrotate.testing.aws import account_id

    for key in iam_backends[account_id()]["aws"].users[USER].access_keys:
        if key.access_key_id == access_key_id:
            key.create_date = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes)


def test_a_second_key_no_version_holds(iam: Any, make_secret: MakeSecret) -> None:
    """A user with two keys, the secret holding one. A local run backs off while the other key
    is recent (another rotation could be about to store it) and deletes it once it is old;
    RotateSecret's token (exclusive) deletes it at once."""
    user, arn = app(make_secret)
    other = add_key(USER)
    with pytest.raises(RotationInProgressError) as refusal:
        LocalDriver(rotator().handle).rotate(arn)
    assert "no version of secret" in str(refusal.value)
    assert other.access_key_id in str(refusal.value)
    assert set(key_states(USER)) == {user.access_key_id, other.access_key_id}
    make_old(other.access_key_id)
    rotate(arn, rotator())
    assert other.access_key_id not in key_states(USER)
    assert set(key_states(USER)) == set(labelled_keys(arn))


def test_rotate_secret_token_deletes_an_unheld_key_at_once(
    iam: Any, make_secret: MakeSecret
) -> None:
    user, arn = app(make_secret)
    other = add_key(USER)
    token = str(uuid.uuid4())
    add_valueless_pending(arn, token)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotator().handle(step_event(step, arn, token))
    assert other.access_key_id not in key_states(USER)
    assert (
        set(key_states(USER))
        == set(labelled_keys(arn))
        == {
            user.access_key_id,
            value(arn)["access_key_id"],
        }
    )


def test_two_keys_that_may_not_be_deleted(iam: Any, make_secret: MakeSecret, sm: Any) -> None:
    """The second key held by a version with another label: refused, nothing created."""
    user, arn = app(make_secret)
    other = add_key(USER)
    sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps(other.secret()), VersionStages=["KEEP"]
    )
    result = LocalDriver(rotator().handle).rotate(arn)
    assert isinstance(result.error, TargetError)
    assert "neither may be deleted" in str(result.error)
    assert "aws iam delete-access-key" in str(result.error)
    assert set(key_states(USER)) == {user.access_key_id, other.access_key_id}


def test_a_key_held_by_another_rotation_is_never_deleted(iam: Any, make_secret: MakeSecret) -> None:
    """A rival whose claim appeared after this createSecret began (past the base class's check):
    its key is held by a claimed version, and the rotation backs off without deleting it."""
    from smrotate.events import RotationEvent, Step

    user, arn = app(make_secret)
    late = rotator()
    ctx = late.context(RotationEvent(Step.CREATE, arn, str(uuid.uuid4())), late.store.describe(arn))
    other = add_key(USER)
    late.store.put_claim(arn, str(uuid.uuid4()), other.secret())
    with pytest.raises(RotationInProgressError):
        late.build_pending(ctx)
    assert set(key_states(USER)) == {user.access_key_id, other.access_key_id}


# ------------------------------------------------------------------ crashes


def crash(arn: str, at: int, *, token: str, **env: str) -> Injector:
    """One local rotation with `token`, killed just after write `at`."""
    injector = Injector(crash_at=at, crash_after=True)
    with (
        injector.installed(rotator(**env)) as crashing,
        pytest.raises(SimulatedCrash),
    ):
        LocalDriver(crashing.handle).rotate(arn, token=token)
    return injector


def writes(arn: str) -> list[str]:
    """The write points of one full rotation (which it makes)."""
    injector = Injector()
    with injector.installed(rotator()) as recording:
        rotate(arn, recording)
    return [f"{point.where} {point.method}" for point in injector.points]


def test_a_crash_after_create_access_key_leaves_no_orphan(
    iam: Any, make_secret: MakeSecret
) -> None:
    user, arn = app(make_secret)
    rotate(arn, rotator())  # the user now has AWSCURRENT's and AWSPREVIOUS's keys
    points = writes(arn)
    assert points[:4] == [
        "aws iam.UpdateAccessKey",
        "aws iam.DeleteAccessKey",
        "aws iam.TagUser",
        "aws iam.CreateAccessKey",
    ]
    assert points[4] == "secretsmanager put_claim"
    token = str(uuid.uuid4())
    crash(arn, points.index("aws iam.CreateAccessKey"), token=token)
    orphans = set(key_states(USER)) - set(labelled_keys(arn))
    assert len(orphans) == 1  # made, never stored
    rotate_result = LocalDriver(rotator().handle).rotate(arn, token=token)
    assert rotate_result.ok, rotate_result.error
    states = key_states(USER)
    assert not orphans & set(states)
    assert set(states) == set(labelled_keys(arn))
    assert all(status == "Active" for status in states.values())
    assert logs_in(value(arn), user)


def test_every_crash_in_create_secret_of_a_rotate_secret_token(
    iam: Any, make_secret: MakeSecret
) -> None:
    """On the AWS path (the kit runs the local one): createSecret killed after each IAM write
    and after PutSecretValue, then run again with the same token, as Lambda retries it. Never a
    third key, never a key no version holds, AWSCURRENT's key always works."""
    user, arn = app(make_secret)
    rotate(arn, rotator())
    for at in range(4):  # UpdateAccessKey, DeleteAccessKey, CreateAccessKey, PutSecretValue
        token = str(uuid.uuid4())
        add_valueless_pending(arn, token)
        injector = Injector(crash_at=at, crash_after=True)
        with injector.installed(rotator()) as crashing, pytest.raises(SimulatedCrash):
            crashing.handle(step_event("createSecret", arn, token))
        assert len(key_states(USER)) <= 2
        assert logs_in(value(arn), user)
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            rotator().handle(step_event(step, arn, token))
        assert set(key_states(USER)) == set(labelled_keys(arn)), injector.crashed
        assert logs_in(value(arn), user)


def test_a_crash_between_finish_and_deactivation(iam: Any, make_secret: MakeSecret) -> None:
    """The documented gap: killed after finishSecret moved the labels and before it deactivated
    the old key, the resumed run has nothing to do and the old key stays active until the next
    createSecret deletes it."""
    user, arn = app(make_secret)
    token, env = str(uuid.uuid4()), {"IAM_DEACTIVATE_PREVIOUS": "true"}

    def before_deactivation(point: Any) -> BaseException | None:
        return SimulatedCrash() if point.method == "iam.UpdateAccessKey" else None

    injector = Injector(fault=before_deactivation)
    with injector.installed(rotator(**env)) as crashing, pytest.raises(SimulatedCrash):
        LocalDriver(crashing.handle).rotate(arn, token=token)
    assert [p.method for p in injector.points][-3:] == [
        "move_label",
        "remove_label",
        "iam.UpdateAccessKey",
    ]
    assert LocalDriver(rotator(**env).handle).rotate(arn, token=token).ok
    assert logs_in(value(arn, "AWSPREVIOUS"), user)  # not deactivated: the gap
    rotate(arn, rotator(**env))
    assert user.access_key_id not in key_states(USER)


# ------------------------------------------------------------------ attacks and bad input


def iam_state() -> dict[str, Any]:
    client = boto3.client("iam", region_name=REGION)
    users = [u["UserName"] for u in client.list_users()["Users"]]
    return {
        name: (key_states(name), client.list_user_tags(UserName=name)["Tags"]) for name in users
    }


def refused(arn: str, **env: str) -> RotationResult:
    result = LocalDriver(rotator(**env).handle).rotate(arn)
    assert result.failed_step is not None
    assert result.failed_step.value == "createSecret"
    return result


def test_a_secret_naming_another_user_is_refused_before_any_change(
    iam: Any, make_secret: MakeSecret
) -> None:
    create_user(USER)
    other = create_user("someone-else")
    arn = make_secret(other.secret())
    before = iam_state()
    result = refused(arn)
    assert isinstance(result.error, SecretFormatError)
    assert "'someone-else'" in str(result.error)
    assert "IAM_USER_NAME" in str(result.error)
    assert iam_state() == before


def test_a_key_of_another_user_is_refused_before_any_change(
    iam: Any, make_secret: MakeSecret
) -> None:
    create_user(USER)
    other = create_user("someone-else")
    arn = make_secret({**other.secret(), "username": USER})
    before = iam_state()
    result = refused(arn)
    assert isinstance(result.error, IdentityMismatchError)
    assert other.arn in str(result.error)
    assert iam_state() == before


@pytest.mark.parametrize("which", ["made-up key", "wrong secret", "inactive key"])
def test_a_key_sts_refuses_is_refused_before_any_change(
    iam: Any, make_secret: MakeSecret, which: str
) -> None:
    user = create_user(USER)
    secret = user.secret()
    if which == "made-up key":
        secret["access_key_id"] = "AKIAIOSFODNN7EXAMPLE"
    elif which == "wrong secret":
        secret["secret_access_key"] = "x" * 40
    else:
        iam.update_access_key(UserName=USER, AccessKeyId=user.access_key_id, Status="Inactive")
    arn = make_secret(secret)
    before = iam_state()
    result = refused(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert not isinstance(result.error, IdentityMismatchError)
    assert iam_state() == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"engine": "postgres"}, "engine"),
        ({"engine": None}, "engine"),
        ({"username": None}, "'username'"),
        ({"access_key_id": None}, "'access_key_id'"),
        ({"access_key_id": 12}, "'access_key_id'"),
        ({"access_key_id": "AKIA 1;DROP"}, "access key id"),
        ({"secret_access_key": None}, "'secret_access_key'"),
        ({"secret_access_key": ""}, "'secret_access_key'"),
        ({"username": USER.upper()}, "IAM_USER_NAME"),
    ],
)
def test_missing_or_wrong_fields_are_named(
    iam: Any, make_secret: MakeSecret, change: dict[str, Any], named: str
) -> None:
    user = create_user(USER)
    secret = {k: v for k, v in {**user.secret(), **change}.items() if v is not None}
    arn = make_secret(secret)
    before = iam_state()
    result = refused(arn)
    assert isinstance(result.error, SecretFormatError)
    assert named in str(result.error)
    assert iam_state() == before


def test_iam_user_name_missing(iam: Any, make_secret: MakeSecret) -> None:
    user, arn = app(make_secret)
    result = LocalDriver(IamAccessKeyRotator(env={}).handle).rotate(arn)
    assert isinstance(result.error, ConfigurationError)
    assert "IAM_USER_NAME is not set" in str(result.error)
    assert set(key_states(USER)) == {user.access_key_id}


def test_a_user_that_does_not_exist(iam: Any, make_secret: MakeSecret) -> None:
    arn = make_secret(UserKey(USER, "AKIAIOSFODNN7EXAMPLE", "x" * 40, "").secret())
    result = refused(arn)
    assert isinstance(result.error, ConfigurationError)
    assert "GetUser" in str(result.error)
    assert "NoSuchEntity" in str(result.error)


def test_bad_settings_are_named(iam: Any, make_secret: MakeSecret) -> None:
    user, arn = app(make_secret)
    for name, bad in (("IAM_PROPAGATION_SECONDS", "soon"), ("IAM_DEACTIVATE_PREVIOUS", "ture")):
        result = refused(arn, **{name: bad})
        assert isinstance(result.error, ConfigurationError)
        assert name in str(result.error)
    assert set(key_states(USER)) == {user.access_key_id}
    assert iam.list_user_tags(UserName=USER)["Tags"] == []


# ------------------------------------------------------------------ eventual consistency


def test_test_secret_waits_for_a_new_key(
    iam: Any, make_secret: MakeSecret, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """STS refuses the new key for the first three tries (IAM propagating it): testSecret
    retries with doubling pauses, on the fake clock, then passes."""
    _, arn = app(make_secret)
    original, calls = keys_module.UserKeys.prove, {"n": 0}

    def propagating(self: Any, key: Any, arn_: str, hint: str) -> None:
        if "AWSPENDING" in key.label:
            calls["n"] += 1
            if calls["n"] <= 3:
                raise LoginRefusedError("injected: InvalidClientTokenId")
        original(self, key, arn_, hint)

    monkeypatch.setattr(keys_module.UserKeys, "prove", propagating)
    rotate(arn, rotator())
    assert pauses == [0.5, 1.0, 2.0]


def test_the_wait_is_bounded_and_mismatches_are_not_retried(
    iam: Any, make_secret: MakeSecret, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn = app(make_secret)
    clock = {"now": 0.0}
    monkeypatch.setattr(keys_module, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(keys_module, "sleep", lambda s: clock.__setitem__("now", clock["now"] + s))

    def never(self: Any, key: Any, arn_: str, hint: str) -> None:
        if "AWSPENDING" in key.label:
            raise LoginRefusedError("injected: InvalidClientTokenId")

    monkeypatch.setattr(keys_module.UserKeys, "prove", never)
    result = LocalDriver(rotator(IAM_PROPAGATION_SECONDS="12").handle).rotate(arn)
    assert isinstance(result.error, LoginRefusedError)
    assert 7.5 <= clock["now"] <= 12  # 0.5 + 1 + 2 + 4, and not the 5 s more
    with pytest.raises(IdentityMismatchError):
        keys_module.patiently(_mismatch, 30, "test", LoginRefusedError)


def _mismatch() -> None:
    raise IdentityMismatchError("injected")


def test_create_waits_when_iam_still_counts_a_deleted_key(
    iam: Any, make_secret: MakeSecret, pauses: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn = app(make_secret)
    rotate(arn, rotator())
    original, calls = keys_module.UserKeys.create, {"n": 0}

    def lagging(self: Any) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 1 else original(self)

    monkeypatch.setattr(keys_module.UserKeys, "create", lagging)
    rotate(arn, rotator())
    assert pauses == [0.5]


def test_a_key_made_meanwhile_makes_the_rotation_back_off(
    iam: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two local runs at once: the second CreateAccessKey hits the two-key limit and backs off."""
    user, arn = app(make_secret)
    original = keys_module.UserKeys.create

    def raced(self: Any) -> Any:
        add_key(USER)  # the other run's key, made just before
        return original(self)

    monkeypatch.setattr(keys_module.UserKeys, "create", raced)
    with pytest.raises(RotationInProgressError, match="another rotation made it"):
        LocalDriver(rotator().handle).rotate(arn)
    assert user.access_key_id in key_states(USER)


# ------------------------------------------------------------------ the policy


def documented_policy() -> dict[str, Any]:
    text = DOC.read_text()
    (block,) = [b for b in re.findall(r"```json\n(.*?)```", text, re.S) if "iam:" in b]
    return dict(json.loads(block))


def test_the_documented_actions_are_enough_under_moto_iam_enforcement(
    iam: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call checked by moto, made with a role holding only the documented actions (moto
    matches IAM user actions against the resource "*": the Resource is widened to "*", and the
    TagUser condition is not evaluated). Without iam:CreateAccessKey the error names it."""
    from moto.core.authorization import enable_iam_authentication

    _, arn = app(make_secret)
    policy = documented_policy()
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
        statement.pop("Condition", None)
    sm_actions = ["DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"]
    policy["Statement"].append(
        {"Effect": "Allow", "Action": [f"secretsmanager:{a}" for a in sm_actions], "Resource": "*"}
    )
    role = create_user("rotation-function")
    iam.put_user_policy(UserName=role.username, PolicyName="doc", PolicyDocument=json.dumps(policy))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", role.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", role.secret_access_key)
    reset_clients()
    with enable_iam_authentication():
        rotate(arn, rotator())
        rotate(arn, rotator())  # the second deactivates and deletes AWSPREVIOUS's key
    policy["Statement"][0]["Action"].remove("iam:CreateAccessKey")
    iam.put_user_policy(UserName=role.username, PolicyName="doc", PolicyDocument=json.dumps(policy))
    with enable_iam_authentication():
        result = LocalDriver(rotator().handle).rotate(arn)
    assert isinstance(result.error, TargetError)
    assert result.error.failure is Failure.PRIVILEGE
    assert "iam:CreateAccessKey" in str(result.error)
    reset_clients()


# ------------------------------------------------------------------ secrets never leak


def test_no_secret_access_key_in_logs_errors_or_output(
    iam: Any,
    make_secret: MakeSecret,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rotations and refused runs with every logger at DEBUG, botocore's wire logging included
    (it logs CreateAccessKey's response body, which holds the new secret)."""
    monkeypatch.setenv("SMROTATE_WIRE_LOGGING", "true")
    for name in ("smrotate", "botocore", "boto3", "urllib3", None):
        caplog.set_level(logging.DEBUG, logger=name)
    user, arn = app(make_secret)
    other = create_user("someone-else")
    forged = [
        make_secret({**other.secret(), "username": USER}),
        make_secret({**user.secret(), "access_key_id": "A" * 20}),
        make_secret(other.secret()),
    ]
    caplog.clear()  # the test's own CreateAccessKey calls logged their response bodies
    capfd.readouterr()
    for deactivate in ("false", "true"):
        rotate(arn, rotator(IAM_DEACTIVATE_PREVIOUS=deactivate))
    results = [LocalDriver(rotator().handle).rotate(secret) for secret in forged]
    out, err = capfd.readouterr()
    texts = [caplog.text, out, err, *(record.getMessage() for record in caplog.records)]
    for result in results:
        assert result.error is not None
        texts += [str(result.error), *traceback.format_exception(result.error)]
    assert any("CreateAccessKey" in text for text in texts)  # botocore did log the calls
    assert any("SecretAccessKey" in text for text in texts)  # and the response bodies
    secrets = {user.secret_access_key, other.secret_access_key}
    secrets |= {value(arn, label)["secret_access_key"] for label in ("AWSCURRENT", "AWSPREVIOUS")}
    leaks = [n for n, text in enumerate(texts) for s in secrets if s in text]
    assert not leaks


def test_secret_access_key_is_a_sensitive_field() -> None:
    redaction.forget_all()
    redaction.register_secret('{"x": 1}', {"secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfi"})
    assert redaction.scrub("key wJalrXUtnFEMI/K7MDENG+bPxRfi") == f"key {redaction.MARKER}"
    redaction.forget_all()


def test_the_kit_remembers_secret_access_keys() -> None:
    subject = Subject(name="x", rotator=rotator_for_kit, make_secret=lambda w: {}, logs_in=bool)
    world = World(subject, Recorder())
    world.remember({"secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfi", "username": "u"})
    assert "wJalrXUtnFEMI/K7MDENG+bPxRfi" in world.seen_values
    assert "u" not in world.seen_values


def rotator_for_kit(env: Any) -> IamAccessKeyRotator:
    return IamAccessKeyRotator(env=env)


def test_the_session_token_of_the_function_is_never_sent_with_a_secret_key(
    iam: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Lambda the role's session token is in the environment; STS refuses a user's key sent
    with a session token, so the proof must not pick it up."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-functions-session-token")
    user, arn = app(make_secret)
    rotate(arn, rotator())
    assert logs_in(value(arn), user)


def test_local_runs_tag_the_user_with_their_token(iam: Any, make_secret: MakeSecret) -> None:
    _, arn = app(make_secret)
    result = rotate(arn, rotator())
    assert iam.list_user_tags(UserName=USER)["Tags"] == [
        {"Key": CREATING_TAG, "Value": result.token}
    ]
