"""The kit can fail: rotators written wrong on purpose are caught by the case meant for each."""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Mapping

import pytest

from smrotate.errors import TargetError
from smrotate.rotator import Rotator, StepContext
from smrotate.store import CURRENT, Secret
from smrotate.testing.kit import ConformanceFailure, Subject
from smrotate.testing.kit.attacks import (
    AttackSucceeded,
    case_admin_never_changes_itself,
    case_identity_is_exact,
)
from smrotate.testing.kit.cases import case_crash_points, case_steps_twice
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.trial_rotation import case_test_rotation
from smrotate.testing.kit.world import World

TOKENS: dict[str, str] = {}


class NotIdempotent(Rotator):
    """setSecret proves the old password before setting the new one: a second run fails."""

    def build_pending(self, ctx: StepContext) -> Secret:
        return {**ctx.current(), "password": ctx.new_password()}

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        if TOKENS.get(pending["username"]) != ctx.current()["password"]:
            raise TargetError("the current password was refused")
        TOKENS[pending["username"]] = pending["password"]

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        if TOKENS.get(pending["username"]) != pending["password"]:
            raise TargetError("the new password was refused")


class MovesCurrentEarly(NotIdempotent):
    """Moves AWSCURRENT in setSecret, before testSecret has proved anything."""

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        TOKENS[pending["username"]] = pending["password"]
        current = ctx.description.current
        if current != ctx.token:
            self.store.move_label(ctx.arn, CURRENT, ctx.token, current)


class InsistsOnANewPassword(NotIdempotent):
    """testSecret refuses a pending value equal to AWSCURRENT's, which a test rotation
    (RotateImmediately=false) always sends: enabling rotation that way would fail."""

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        TOKENS[pending["username"]] = pending["password"]

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        if pending["password"] == ctx.current()["password"]:
            raise TargetError("the pending password is not new")
        super().test_pending(ctx, pending)


def subject(cls: type[Rotator]) -> Subject:
    def make_secret(world: World) -> Secret:
        user = world.unique_name("app")
        TOKENS[user] = secrets.token_urlsafe(12)
        return {"username": user, "password": TOKENS[user]}

    def build(env: Mapping[str, str]) -> Rotator:
        return cls(env=env)

    return Subject(
        name=cls.__name__,
        rotator=build,
        make_secret=make_secret,
        logs_in=lambda s: TOKENS.get(s["username"]) == s["password"],
    )


def test_a_set_secret_that_is_not_idempotent_is_caught_by_steps_twice() -> None:
    with pytest.raises(ConformanceFailure, match="setSecret failed when run a second time"):
        case_steps_twice(subject(NotIdempotent), Recorder(in_summary=False))


def test_a_set_secret_that_is_not_idempotent_is_caught_by_crash_points() -> None:
    with pytest.raises(ConformanceFailure, match="resuming failed at setSecret"):
        case_crash_points(subject(NotIdempotent), Recorder(in_summary=False))


def test_moving_current_before_testing_is_caught_by_steps_twice() -> None:
    with pytest.raises(ConformanceFailure, match="AWSCURRENT moved during setSecret"):
        case_steps_twice(subject(MovesCurrentEarly), Recorder(in_summary=False))


LEAKY_MODULE = textwrap.dedent(
    """
    import secrets

    import pytest

    from smrotate.errors import TargetError
    from smrotate.rotator import Rotator
    from smrotate.testing.kit import ConformanceSuite, Subject

    TOKENS = {}


    class Leaky(Rotator):
        def build_pending(self, ctx):
            return {**ctx.current(), "password": ctx.new_password()}

        def apply_pending(self, ctx, pending):
            print("new password is", pending["password"])  # logging would scrub it; print doesn't
            TOKENS[pending["username"]] = pending["password"]

        def test_pending(self, ctx, pending):
            if TOKENS.get(pending["username"]) != pending["password"]:
                raise TargetError("refused")


    def make_secret(world):
        user = world.unique_name("app")
        TOKENS[user] = secrets.token_urlsafe(12)
        return {"username": user, "password": TOKENS[user]}


    class TestLeaky(ConformanceSuite):
        @pytest.fixture
        def subject(self):
            return Subject(
                name="leaky",
                rotator=lambda env: Leaky(env=env),
                make_secret=make_secret,
                logs_in=lambda s: TOKENS.get(s["username"]) == s["password"],
            )
    """
)


def test_a_rotator_that_logs_the_password_is_caught_by_the_leak_scan(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaky=LEAKY_MODULE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_full_rotations")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*a secret value or the RotationToken appeared in: *standard output*"]
    )


class ConfusedDeputy(NotIdempotent):
    """An admin rotator written by hand: it resets whatever user the secret names."""

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        TOKENS[pending["username"]] = pending["password"]


class CaseBlind(NotIdempotent):
    """A target lookup that ignores letter case: `APP` counts as `app`."""

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        TOKENS[str(pending["username"]).lower()] = pending["password"]

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        if TOKENS.get(str(pending["username"]).lower()) != pending["password"]:
            raise TargetError("the new password was refused")


def admin_subject(cls: type[Rotator]) -> Subject:
    base = subject(cls)

    def make_secret(world: World) -> Secret:
        admin = world.unique_name("admin")
        TOKENS[admin] = secrets.token_urlsafe(12)
        arn = world.put_secret(
            world.unique_name("kit/admin"), {"username": admin, "password": TOKENS[admin]}
        )
        return {**base.make_secret(world), "masterarn": arn}

    return Subject(
        name=cls.__name__,
        rotator=base.rotator,
        make_secret=make_secret,
        logs_in=base.logs_in,
        strategy="single-user-via-admin",
    )


def test_an_admin_that_resets_itself_for_another_secret_is_caught() -> None:
    with pytest.raises(AttackSucceeded, match="naming the admin's own user succeeded"):
        case_admin_never_changes_itself(admin_subject(ConfusedDeputy), Recorder(in_summary=False))


def test_a_case_blind_identity_check_is_caught() -> None:
    with pytest.raises(AttackSucceeded, match="changed"):
        case_identity_is_exact(subject(CaseBlind), Recorder(in_summary=False))


def test_a_test_secret_that_needs_a_new_password_is_caught_by_the_test_rotation() -> None:
    with pytest.raises(ConformanceFailure, match="RotateImmediately=false: testSecret failed"):
        case_test_rotation(subject(InsistsOnANewPassword), Recorder(in_summary=False))
    case_test_rotation(subject(NotIdempotent), Recorder(in_summary=False))  # the others pass
