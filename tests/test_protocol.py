"""The rotation protocol, branch by branch, with an in-memory credential target on moto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from conftest import MakeSecret, labels, moto_backend
from helpers import count_calls, new_token, set_labels, step_event
from memory import MemoryRotator, MemoryTarget

from smrotate import rotator as rotator_module
from smrotate.accounts import Account
from smrotate.errors import (
    RotationInProgressError,
    RotationStateError,
    SecretFormatError,
    StoreError,
    TargetError,
)
from smrotate.events import RotationEvent, Step
from smrotate.operator.driver import LocalDriver
from smrotate.store import claim_label
from smrotate.testing.aws import add_valueless_pending

USER = {"username": "app", "password": "initial-password-1"}


@pytest.fixture
def target() -> MemoryTarget:
    return MemoryTarget(passwords={"app": USER["password"]})


@pytest.fixture
def rotator(target: MemoryTarget) -> MemoryRotator:
    return MemoryRotator(target, env={})


def value(sm: Any, arn: str, **kwargs: str) -> dict[str, Any]:
    return dict(json.loads(sm.get_secret_value(SecretId=arn, **kwargs)["SecretString"]))


def name_of(arn: str) -> str:
    return str(moto_backend().secrets[arn].name)


def snapshot(arn: str) -> dict[str, Any]:
    secret = moto_backend().secrets[arn]
    return {
        vid: (sorted(v["version_stages"]), v.get("secret_string"))
        for vid, v in secret.versions.items()
    }


def test_full_rotation_moves_labels_and_changes_the_password(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER)
    before = moto_backend().secrets[arn].default_version_id
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.ok, result.error
    assert result.steps_done == [Step.CREATE, Step.SET, Step.TEST, Step.FINISH]
    assert labels(name_of(arn)) == {before: ["AWSPREVIOUS"], result.token: ["AWSCURRENT"]}
    new = value(sm, arn, VersionStage="AWSCURRENT")
    assert new["username"] == "app"
    assert new["password"] != USER["password"]
    assert target.check("app", new["password"])
    assert not target.check("app", USER["password"])


def test_three_rotations_leave_one_current_one_previous_no_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    tokens = []
    for _ in range(3):
        result = driver.rotate(arn)
        assert result.ok, result.error
        tokens.append(result.token)
        found = labels(name_of(arn))
        assert [v for v, ls in found.items() if "AWSCURRENT" in ls] == [result.token]
        assert len([v for v, ls in found.items() if "AWSPREVIOUS" in ls]) == 1
        assert not [v for v, ls in found.items() if "AWSPENDING" in ls]
    assert labels(name_of(arn))[tokens[1]] == ["AWSPREVIOUS"]
    passwords = {value(sm, arn, VersionId=t)["password"] for t in tokens}
    assert len(passwords) == 3
    assert target.changes == [("own", "app")] * 3


# ---------------------------------------------------------------- token states


@pytest.mark.parametrize("step", ["setSecret", "testSecret", "finishSecret"])
def test_unknown_token_fails_every_step_but_create(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, step: str
) -> None:
    arn = make_secret(USER)
    before = snapshot(arn)
    with pytest.raises(RotationStateError, match="not a labelled version"):
        rotator.handle(step_event(step, arn, new_token()))
    assert snapshot(arn) == before


def test_create_with_absent_token_stores_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    rotator.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn))[token] == ["AWSPENDING"]
    pending = value(sm, arn, VersionId=token)
    assert pending["username"] == "app"
    assert pending["password"] != USER["password"]


def test_create_fills_the_valueless_pending_version_of_rotate_secret(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    add_valueless_pending(name_of(arn), token)
    rotator.handle(step_event("createSecret", arn, token))
    assert value(sm, arn, VersionId=token)["username"] == "app"
    assert labels(name_of(arn))[token] == ["AWSPENDING"]


def test_a_retried_rotate_secret_that_empties_the_version_gets_its_value_back(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    """moto re-creates the version without its value when RotateSecret is retried with the same
    token: createSecret, in the same warm process, asks Secrets Manager afresh (not its cache)
    and stores the same value again, so finishSecret never promotes an empty version."""
    arn = make_secret(USER)
    token = new_token()
    add_valueless_pending(name_of(arn), token)
    rotator.handle(step_event("createSecret", arn, token))
    first = value(sm, arn, VersionId=token)
    rotator.handle(step_event("setSecret", arn, token))
    add_valueless_pending(name_of(arn), token)  # the retried RotateSecret
    rotator.handle(step_event("createSecret", arn, token))
    assert value(sm, arn, VersionId=token) == first  # the password setSecret already set
    for step in ("setSecret", "testSecret", "finishSecret"):
        rotator.handle(step_event(step, arn, token))
    assert labels(name_of(arn))[token] == ["AWSCURRENT"]
    assert value(sm, arn, VersionStage="AWSCURRENT") == first
    assert target.check("app", first["password"])


@pytest.mark.parametrize("step", ["setSecret", "testSecret"])
def test_set_and_test_on_a_valueless_pending_version_ask_for_create(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget, step: str
) -> None:
    arn = make_secret(USER)
    token = new_token()
    add_valueless_pending(name_of(arn), token)
    with pytest.raises(RotationStateError, match="createSecret must run first"):
        rotator.handle(step_event(step, arn, token))
    assert target.changes == []


def test_create_keeps_an_existing_pending_value(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    rotator.handle(step_event("createSecret", arn, token))
    first = value(sm, arn, VersionId=token)
    with count_calls() as calls:
        rotator.handle(step_event("createSecret", arn, token))
    assert value(sm, arn, VersionId=token) == first
    assert "PutSecretValue" not in calls


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_token_already_current_succeeds_and_does_nothing(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget, step: str
) -> None:
    arn = make_secret(USER)
    current = moto_backend().secrets[arn].default_version_id
    before = snapshot(arn)
    with count_calls() as calls:
        rotator.handle(step_event(step, arn, current))
    assert snapshot(arn) == before
    assert dict(calls) == {"DescribeSecret": 1}
    assert target.logins == []


def test_finish_tidies_pending_left_on_the_current_version(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    for step in ("createSecret", "setSecret", "testSecret"):
        rotator.handle(step_event(step, arn, token))
    old = moto_backend().secrets[arn].default_version_id
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=old
    )
    assert labels(name_of(arn))[token] == [
        "AWSCURRENT",
        "AWSPENDING",
    ]  # a crash inside finishSecret
    rotator.handle(step_event("finishSecret", arn, token))
    assert labels(name_of(arn)) == {old: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}


@pytest.mark.parametrize("step", ["createSecret", "setSecret", "testSecret", "finishSecret"])
def test_token_holding_only_previous_is_refused(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, step: str
) -> None:
    arn = make_secret(USER)
    assert LocalDriver(rotator.handle).rotate(arn).ok
    previous = next(v for v, ls in labels(name_of(arn)).items() if "AWSPREVIOUS" in ls)
    before = snapshot(arn)
    with pytest.raises(RotationStateError, match="not AWSPENDING"):
        rotator.handle(step_event(step, arn, previous))
    assert snapshot(arn) == before


def test_create_refuses_while_another_version_holds_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    first = new_token()
    rotator.handle(step_event("createSecret", arn, first))
    before = snapshot(arn)
    with pytest.raises(RotationInProgressError, match=f"version {first} holds AWSPENDING"):
        rotator.handle(step_event("createSecret", arn, new_token()))
    assert snapshot(arn) == before


def test_create_tidies_stale_pending_on_the_current_version(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    current = moto_backend().secrets[arn].default_version_id
    set_labels(name_of(arn), current, ["AWSCURRENT", "AWSPENDING"])
    assert LocalDriver(rotator.handle).rotate(arn).ok


def test_rotation_disabled_is_refused_before_any_change(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER, rotation=False)
    before = snapshot(arn)
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, RotationStateError)
    assert "rotation is not enabled" in str(result.error)
    assert snapshot(arn) == before
    assert target.logins == []


def test_unknown_secret_is_a_store_error(sm: Any, rotator: MemoryRotator) -> None:
    with pytest.raises(StoreError, match="ResourceNotFoundException") as info:
        rotator.handle(step_event("createSecret", "app/missing", new_token()))
    assert info.value.code == "ResourceNotFoundException"


def test_secret_without_current_version(sm: Any, rotator: MemoryRotator) -> None:
    arn = sm.create_secret(Name="app/empty")["ARN"]
    from conftest import enable_rotation

    enable_rotation("app/empty")
    with pytest.raises(RotationStateError, match="no AWSCURRENT version"):
        rotator.handle(step_event("createSecret", arn, new_token()))


# ---------------------------------------------------------------- idempotency


def test_every_step_twice_changes_the_target_once(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER)
    token = new_token()
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotator.handle(step_event(step, arn, token))
        rotator.handle(step_event(step, arn, token))
    assert target.changes == [("own", "app")]
    assert labels(name_of(arn))[token] == ["AWSCURRENT"]
    assert target.check("app", value(sm, arn, VersionStage="AWSCURRENT")["password"])


def test_steps_run_again_after_the_rotation_finished(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER)
    result = LocalDriver(rotator.handle).rotate(arn)
    before = snapshot(arn)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotator.handle(step_event(step, arn, result.token))
    assert snapshot(arn) == before
    assert target.changes == [("own", "app")]


# ---------------------------------------------------------------- failures


def test_set_failure_leaves_current_untouched_and_resumes(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    target.down = True
    result = driver.rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, TargetError)
    assert "network failure" in str(result.error)
    assert value(sm, arn, VersionStage="AWSCURRENT") == USER
    assert target.check("app", USER["password"])
    target.down = False
    resumed = driver.rotate(arn, token=result.token)
    assert resumed.ok, resumed.error
    assert labels(name_of(arn))[result.token] == ["AWSCURRENT"]


def test_test_failure_leaves_current_untouched_and_resumes(
    sm: Any, make_secret: MakeSecret, target: MemoryTarget
) -> None:
    class Picky(MemoryRotator):
        fail = True

        def check_login(self, session: Any, account: Account) -> None:
            if self.fail:
                raise TargetError("the new credentials cannot read table orders")

    rotator = Picky(target, env={})
    arn = make_secret(USER)
    driver = LocalDriver(rotator.handle)
    result = driver.rotate(arn)
    assert result.failed_step is Step.TEST
    assert value(sm, arn, VersionStage="AWSCURRENT") == USER
    assert labels(name_of(arn))[result.token] == ["AWSPENDING"]
    rotator.fail = False
    assert driver.rotate(arn, token=result.token).ok
    assert target.changes == [("own", "app")]


def test_rotation_token_is_passed_to_put_secret_value(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    from smrotate.store import default_client

    arn = make_secret(USER)
    seen: list[dict[str, Any]] = []
    client = default_client()

    def hook(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    client.meta.events.register("provide-client-params.secrets-manager.PutSecretValue", hook)
    try:
        rotator.handle(
            step_event(
                "createSecret",
                arn,
                new_token(),
                RotationToken="rt-0123456789abcdef-0123456789abcdef-01",
            )
        )
    finally:
        client.meta.events.unregister("provide-client-params.secrets-manager.PutSecretValue", hook)
    assert len(seen) == 1
    assert seen[0]["RotationToken"] == "rt-0123456789abcdef-0123456789abcdef-01"
    assert seen[0]["VersionStages"] == [claim_label(seen[0]["ClientRequestToken"])]


def test_rotation_token_is_passed_when_filling_rotate_secrets_version(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    from smrotate.store import default_client

    arn = make_secret(USER)
    token = new_token()
    add_valueless_pending(name_of(arn), token)
    seen: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    client = default_client()
    client.meta.events.register("provide-client-params.secrets-manager.PutSecretValue", hook)
    try:
        rotator.handle(step_event("createSecret", arn, token, RotationToken="rt-" + "0" * 40))
    finally:
        client.meta.events.unregister("provide-client-params.secrets-manager.PutSecretValue", hook)
    assert [(p["RotationToken"], p["VersionStages"]) for p in seen] == [
        ("rt-" + "0" * 40, ["AWSPENDING"])
    ]


# ------------------------------------------- racing createSecret (defect 9)

RIVAL = {"username": "app", "password": "rival-password-1"}


def add_version(arn: str, version: str, stages: list[str]) -> None:
    """Another rotation's version, written behind this one's back (a racing process)."""
    moto_backend().secrets[arn].versions[version] = {
        "createdate": int(time.time()),
        "version_id": version,
        "version_stages": list(stages),
        "secret_string": json.dumps(RIVAL),
    }


@contextmanager
def meanwhile(operation: str, action: Any, *, after: bool = True) -> Iterator[None]:
    """Run `action()` once, right after (or before) the first `operation` call."""
    from smrotate.store import default_client

    events = default_client().meta.events
    event = f"{'after' if after else 'before'}-call.secrets-manager.{operation}"
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    events.register(event, hook)
    try:
        yield
    finally:
        events.unregister(event, hook)


def test_create_writes_its_claim_then_takes_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    with count_calls() as calls:
        rotator.handle(step_event("createSecret", arn, token))
    assert dict(calls) == {
        "DescribeSecret": 2,  # the step's, and the re-read after writing the claim
        "GetSecretValue": 1,  # AWSCURRENT
        "PutSecretValue": 1,
        "UpdateSecretVersionStage": 2,  # AWSPENDING onto the token, the claim off it
    }
    assert labels(name_of(arn))[token] == ["AWSPENDING"]


@pytest.fixture
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """No random pause between two rounds of claiming the secret."""
    monkeypatch.setattr(rotator_module, "CLAIM_BACKOFF", (0.0, 0.0))


@pytest.mark.parametrize("rival_label", ["AWSPENDING", "claim"])
def test_create_backs_off_when_another_rotation_wrote_meanwhile(
    sm: Any,
    make_secret: MakeSecret,
    rotator: MemoryRotator,
    target: MemoryTarget,
    rival_label: str,
    no_pause: None,
) -> None:
    """The race: another process writes its version just after this one wrote its own. This
    one sees it on the re-read, removes its own claim, touches nothing of the other's, and
    raises (at once when the other holds AWSPENDING; after its rounds of waiting when the
    other only claims and never goes); the other's AWSPENDING (or claim) stays where it was."""
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    stage = "AWSPENDING" if rival_label == "AWSPENDING" else claim_label(rival)
    with (
        meanwhile("PutSecretValue", lambda: add_version(arn, rival, [stage])),
        pytest.raises(RotationInProgressError, match=f"same time \\(version {rival}"),
    ):
        rotator.handle(step_event("createSecret", arn, token))
    found = labels(name_of(arn))
    assert found[rival] == [stage]
    assert token not in found  # its version keeps no label
    assert target.changes == []


def test_create_claims_again_once_a_rival_that_claimed_at_once_withdrew(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, no_pause: None
) -> None:
    """Both wrote before either read: each withdraws and waits a random pause. The rival here
    withdrew during the pause, so this rotation claims again and takes AWSPENDING."""
    from smrotate.store import default_client

    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    describes: list[str] = []

    def before_describe(**_: Any) -> None:
        describes.append("DescribeSecret")
        if len(describes) == 3:  # the re-read after the pause: the rival gave up meanwhile
            moto_backend().secrets[arn].versions[rival]["version_stages"] = []

    events = default_client().meta.events
    events.register("before-call.secrets-manager.DescribeSecret", before_describe)
    try:
        with meanwhile("PutSecretValue", lambda: add_version(arn, rival, [claim_label(rival)])):
            rotator.handle(step_event("createSecret", arn, token))
    finally:
        events.unregister("before-call.secrets-manager.DescribeSecret", before_describe)
    assert labels(name_of(arn))[token] == ["AWSPENDING"]
    assert rival not in labels(name_of(arn))
    assert len(describes) == 4  # the step's; after the claim; after the pause; after claiming again


def test_create_backs_off_when_a_rival_finished_while_it_built_its_value(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget
) -> None:
    """A whole rotation finished between this step's DescribeSecret and its re-read: its value
    was built from the old AWSCURRENT, so it must not go on (alternating users would name the
    wrong user)."""
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    old = moto_backend().secrets[arn].default_version_id

    def rival_finished() -> None:
        add_version(arn, rival, ["AWSCURRENT"])
        moto_backend().secrets[arn].versions[old]["version_stages"] = ["AWSPREVIOUS"]

    with meanwhile("PutSecretValue", rival_finished), pytest.raises(RotationInProgressError):
        rotator.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn)) == {old: ["AWSPREVIOUS"], rival: ["AWSCURRENT"]}
    assert target.changes == []


def test_create_never_moves_pending_away_from_a_racing_rotation(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """Before the fix, PutSecretValue with AWSPENDING moved the label away from a rotation
    that had taken it after this step's DescribeSecret (and might be setting its password)."""
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    rival_writes = meanwhile(
        "PutSecretValue", lambda: add_version(arn, rival, ["AWSPENDING"]), after=False
    )
    with rival_writes, suppress(RotationInProgressError):
        rotator.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn))[rival] == ["AWSPENDING"]
    assert token not in labels(name_of(arn))


def test_create_backs_off_when_aws_refuses_to_attach_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """AWS refuses UpdateSecretVersionStage onto a label another version holds, unless told
    which: a rotation that took AWSPENDING just before the attach makes this one back off."""
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    original = rotator.store.move_label

    def refusing(secret_id: str, label: str, to_version: str, from_version: str | None) -> None:
        add_version(arn, rival, ["AWSPENDING"])
        raise StoreError("UpdateSecretVersionStage failed: InvalidParameterException", "x")

    rotator.store.move_label = refusing  # type: ignore[method-assign]
    with pytest.raises(RotationInProgressError):
        rotator.handle(step_event("createSecret", arn, token))
    rotator.store.move_label = original  # type: ignore[method-assign]
    assert labels(name_of(arn)) == {
        moto_backend().secrets[arn].default_version_id: ["AWSCURRENT"],
        rival: ["AWSPENDING"],
    }


def test_create_resumes_a_claim_left_by_a_crash(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()

    def crash() -> None:
        raise SystemExit("the process died after writing its claim")

    with meanwhile("PutSecretValue", crash), pytest.raises(SystemExit):
        rotator.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn))[token] == [claim_label(token)]
    written = value(sm, arn, VersionId=token)
    fresh = MemoryRotator(rotator.target, env={})
    fresh.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn))[token] == ["AWSPENDING"]
    assert value(sm, arn, VersionId=token) == written  # not built again


def test_create_tidies_a_claim_left_after_taking_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token = new_token()
    rotator.handle(step_event("createSecret", arn, token))
    moto_backend().secrets[arn].versions[token]["version_stages"].append(claim_label(token))
    rotator.handle(step_event("createSecret", arn, token))
    assert labels(name_of(arn))[token] == ["AWSPENDING"]


def test_a_stale_claim_blocks_a_new_rotation_with_a_clear_error(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    stale = new_token()
    add_version(arn, stale, [claim_label(stale)])
    before = snapshot(arn)
    with pytest.raises(RotationInProgressError, match=f"is starting: version {stale} claims"):
        rotator.handle(step_event("createSecret", arn, new_token()))
    assert snapshot(arn) == before


@pytest.mark.parametrize("step", ["setSecret", "testSecret", "finishSecret"])
def test_a_version_that_only_claimed_runs_no_other_step(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator, target: MemoryTarget, step: str
) -> None:
    arn = make_secret(USER)
    token = new_token()
    add_version(arn, token, [claim_label(token)])
    with pytest.raises(RotationStateError, match="not a labelled version"):
        rotator.handle(step_event(step, arn, token))
    assert target.changes == []


def confirm(rotator: MemoryRotator, arn: str, token: str) -> None:
    description = rotator.store.describe(arn)
    rotator.context(RotationEvent(Step.SET, arn, token), description).confirm_pending()


def test_confirm_pending_passes_while_the_token_holds_pending_alone(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    rotator.handle(step_event("createSecret", arn, token))
    add_version(arn, rival, [claim_label(rival)])  # a rival that will back off on its re-read
    confirm(rotator, arn, token)


def test_confirm_pending_stops_a_rotation_whose_pending_was_taken(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    rotator.handle(step_event("createSecret", arn, token))
    moto_backend().secrets[arn].versions[token]["version_stages"].remove("AWSPENDING")
    add_version(arn, rival, ["AWSPENDING"])
    with pytest.raises(RotationStateError, match="no longer holds AWSPENDING"):
        confirm(rotator, arn, token)


def test_confirm_pending_stops_when_two_versions_hold_pending(
    sm: Any, make_secret: MakeSecret, rotator: MemoryRotator
) -> None:
    """moto lets one label sit on two versions; neither rotation may then change anything."""
    arn = make_secret(USER)
    token, rival = new_token(), new_token()
    rotator.handle(step_event("createSecret", arn, token))
    add_version(arn, rival, ["AWSPENDING"])
    with pytest.raises(RotationStateError, match=f"version {rival} .* holds AWSPENDING too"):
        confirm(rotator, arn, token)
    moto_backend().secrets[arn].versions[rival]["version_stages"] = []  # labels unique again


# ------------------------------------------------------------- bad secret values

BAD_VALUES: list[tuple[str, str, str]] = [
    ("not JSON", "username=app password=x", "not valid JSON"),
    ("truncated JSON", '{"username": "app", "password": "s3cr', "not valid JSON"),
    ("JSON list", '["app", "pw"]', "not an object"),
    ("JSON string", '"app:pw"', "not an object"),
    ("JSON null", "null", "not an object"),
    ("JSON number", "42", "not an object"),
    ("empty object", "{}", "'username'"),
    ("no password", '{"username": "app"}', "'password'"),
    ("no username", '{"password": "s3cret-pw"}', "'username'"),
    ("password number", '{"username": "app", "password": 12345678}', "'password'"),
    ("password null", '{"username": "app", "password": null}', "'password'"),
    ("password empty", '{"username": "app", "password": ""}', "'password'"),
    ("username empty", '{"username": "", "password": "s3cret-pw"}', "'username'"),
    ("username list", '{"username": ["app"], "password": "s3cret-pw"}', "'username'"),
]


@pytest.mark.parametrize(("case", "raw", "message"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_bad_secret_values_get_clear_errors_and_change_nothing(
    sm: Any,
    make_secret: MakeSecret,
    rotator: MemoryRotator,
    target: MemoryTarget,
    case: str,
    raw: str,
    message: str,
) -> None:
    arn = make_secret(raw)
    before = snapshot(arn)
    result = LocalDriver(rotator.handle).rotate(arn)
    assert isinstance(result.error, SecretFormatError)
    assert message in str(result.error)
    assert "s3cr" not in str(result.error)
    assert snapshot(arn) == before
    assert target.logins == []


def test_binary_secret_is_refused(sm: Any, rotator: MemoryRotator) -> None:
    arn = sm.create_secret(Name="app/binary", SecretBinary=b"\x00\x01")["ARN"]
    from conftest import enable_rotation

    enable_rotation("app/binary")
    with pytest.raises(SecretFormatError, match="binary"):
        rotator.handle(step_event("createSecret", arn, new_token()))
