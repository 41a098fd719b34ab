"""The conformance cases. Each takes a Subject and a Recorder, runs in its own World, and
raises ConformanceFailure (naming the case, the moment and the broken rule) when the rotator is
unsafe. They never print or return a secret value."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

from smrotate.errors import (
    Failure,
    LoginRefusedError,
    RotationInProgressError,
    RotationStateError,
    SmrotateError,
    TargetError,
)
from smrotate.events import STEPS_IN_ORDER, RotationEvent, Step
from smrotate.operator.driver import LocalDriver
from smrotate.rotator import Rotator
from smrotate.store import CURRENT, PENDING, PREVIOUS, Secret
from smrotate.testing.kit.injection import Injector, SimulatedCrash, login_fault
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject
from smrotate.testing.kit.world import ROTATION_TOKEN, World


class ConformanceFailure(AssertionError):
    """The rotator broke a rule of the rotation protocol; the message says which and when."""


def expect(condition: bool, message: str) -> None:
    """Raise ConformanceFailure(message) unless `condition`."""
    if not condition:
        raise ConformanceFailure(message)


def check_labels(world: World, arn: str, when: str) -> None:
    """One AWSCURRENT, at most one AWSPREVIOUS and AWSPENDING, no label on two versions."""
    problems = world.label_problems()
    expect(not problems, f"{when}: labels are inconsistent: {problems}")
    labels = [label for labels in world.labels(arn).values() for label in labels]
    expect(labels.count(CURRENT) == 1, f"{when}: {labels.count(CURRENT)} versions hold AWSCURRENT")
    expect(labels.count(PREVIOUS) <= 1, f"{when}: several versions hold AWSPREVIOUS")


def check_finished(world: World, arn: str, token: str, when: str) -> None:
    """The rotation `token` is complete: it holds AWSCURRENT alone and its credentials log in."""
    check_labels(world, arn, when)
    expect(
        world.labels(arn).get(token) == [CURRENT],
        f"{when}: the new version does not hold AWSCURRENT alone",
    )
    expect(world.holder(arn, PENDING) is None, f"{when}: AWSPENDING is left on a version")
    expect(
        world.subject.logs_in(world.value(arn, label=CURRENT)),
        f"{when}: AWSCURRENT does not log in",
    )


def _rotate_ok(world: World, arn: str, when: str, rotator: Rotator | None = None) -> str:
    result = world.rotate(arn, rotator)
    expect(result.ok, f"{when}: the rotation failed at {result.failed_step}: {result.error}")
    check_finished(world, arn, result.token, when)
    return result.token


def case_full_rotations(subject: Subject, recorder: Recorder) -> None:
    """Three rotations in a row; labels after each; old credentials refused (single user) or
    still working until the next rotation (alternating users)."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        history: list[Secret] = [world.value(arn, label=CURRENT)]
        for n in range(1, 4):
            _rotate_ok(world, arn, f"rotation {n}")
            history.append(world.value(arn, label=CURRENT))
            expect(history[-1] != history[-2], f"rotation {n} did not change the secret's value")
            if subject.keeps_previous_working:
                expect(
                    subject.logs_in(history[-2]),
                    f"after rotation {n} the previous credentials no longer log in",
                )
                if n >= 2:
                    expect(
                        not subject.logs_in(history[-3]),
                        f"after rotation {n} the credentials of two rotations ago still log in",
                    )
            else:
                expect(
                    not subject.logs_in(history[-2]),
                    f"after rotation {n} the old credentials still log in",
                )
        recorder.count("rotations", 3)


def _event(step: Step, arn: str, token: str) -> dict[str, str]:
    return RotationEvent(step, arn, token, ROTATION_TOKEN).as_dict()


def case_steps_twice(subject: Subject, recorder: Recorder) -> None:
    """Every step run twice (the second time in a fresh process), AWSCURRENT unmoved until
    finishSecret, then every step again after the rotation finished."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        token = str(uuid.uuid4())
        original = world.holder(arn, CURRENT)
        warm = world.rotator()
        for step in STEPS_IN_ORDER:
            values = []
            for attempt, rotator in (("first", warm), ("second", world.rotator())):
                try:
                    rotator.handle(_event(step, arn, token))
                except Exception as exc:
                    world.errors.append(f"{type(exc).__name__}: {exc}")
                    raise ConformanceFailure(
                        f"{step.value} failed when run a {attempt} time: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                check_labels(world, arn, f"after {step.value} ({attempt} run)")
                if step is not Step.FINISH:
                    expect(
                        world.holder(arn, CURRENT) == original,
                        f"AWSCURRENT moved during {step.value}; it may move only in finishSecret",
                    )
                    values.append(world.value(arn, version=token))
            if step is Step.CREATE:
                expect(
                    values[0] == values[1], "createSecret changed the pending value when run again"
                )
        check_finished(world, arn, token, "after every step ran twice")
        before = world.value(arn, label=CURRENT)
        for step in STEPS_IN_ORDER:
            world.rotator().handle(_event(step, arn, token))
        expect(
            world.value(arn, label=CURRENT) == before,
            "steps run after the rotation finished changed AWSCURRENT",
        )
        check_finished(world, arn, token, "after every step ran again once finished")
        recorder.count("rotations")


def case_crash_points(subject: Subject, recorder: Recorder, part: int = 0, parts: int = 1) -> None:
    """Kill the run before its first write and after each write, then resume it with the same
    token.

    Each of `subject.crash_rotations` rotations is crashed before its first write and after
    every write. A crash just before a write leaves the state that a crash just after the
    previous write leaves (nothing is written between two recorded writes), so that covers a
    crash before and after every write, each distinct state once. The points are taken in
    chains: one secret takes a crash point of its first rotation, is resumed, then takes one of
    its second rotation, and so on, so that no crash point needs rotations run only to reach
    it, and every rotation after the first starts from a secret that has survived a crash
    (whose state must be as good as a clean rotation's). With `parts` > 1, this call takes only
    the chains whose number is `part` modulo `parts`: the parts together cover every crash
    point once, and can run in parallel."""
    with World(subject, recorder) as world:
        probe = world.new_secret()
        counts = []
        for n in range(subject.crash_rotations):
            injector = Injector()
            with injector.installed(world.rotator(), subject.write_points) as rotator:
                result = world.rotate(probe, rotator)
            expect(result.ok, f"rotation {n + 1} failed before any crash: {result.error}")
            counts.append(len(injector.points))
            expect(
                any(point.where == "target" for point in injector.points),
                f"rotation {n + 1} made no write to the target that the kit could see: check "
                "the subject's write_points",
            )
        points = [[(0, False), *((i, True) for i in range(count))] for count in counts]
        for chain in range(part, max(len(crashes) for crashes in points), parts):
            arn = world.new_secret()
            survived: list[str] = []
            for rotation, crashes in enumerate(points):
                if all(chain >= len(later) for later in points[rotation:]):
                    break  # no crash point left for this chain
                history = f" (the secret survived: {'; '.join(survived)})" if survived else ""
                if chain >= len(crashes):
                    _rotate_ok(world, arn, f"rotation {rotation + 1}{history}")
                    continue
                index, after = crashes[chain]
                point = _crash_and_resume(world, arn, rotation, index, after=after, history=history)
                survived.append(point)
                recorder.count("crash points")
                recorder.count("survived")


def _crash_and_resume(
    world: World, arn: str, rotation: int, index: int, *, after: bool, history: str
) -> str:
    """Crash rotation `rotation` of `arn` at write `index` (before it, or after), check what is
    left, resume with the same token and check it finished; the crash point, named."""
    subject = world.subject
    injector = Injector(crash_at=index, crash_after=after)
    token = str(uuid.uuid4())
    with (
        injector.installed(world.rotator(), subject.write_points) as rotator,
        contextlib.suppress(SimulatedCrash),
    ):
        world.rotate(arn, rotator, token=token)
    point = f"crash {'after' if after else 'before'} write #{index} of rotation {rotation + 1}"
    where = point + history
    expect(
        injector.crashed is not None,
        f"{where}: the write was never reached (the run is not repeatable)",
    )
    crashed = injector.crashed
    if crashed is not None:
        point = f"{point} ({crashed.where} {crashed.method})"
        where = point + history
    check_labels(world, arn, where)
    current_ok = subject.logs_in(world.value(arn, label=CURRENT))
    pending = world.holder(arn, PENDING)
    if subject.keeps_current_working:
        expect(current_ok, f"{where}: AWSCURRENT no longer logs in")
    else:
        pending_ok = pending is not None and subject.logs_in(world.value(arn, version=pending))
        expect(
            current_ok or pending_ok,
            f"{where}: neither AWSCURRENT nor AWSPENDING logs in: the account is stranded",
        )
    result = world.rotate(arn, token=token)
    expect(result.ok, f"{where}: resuming failed at {result.failed_step}: {result.error}")
    check_finished(world, arn, token, f"{where}, resumed")
    return point


FAULTS: dict[str, Callable[[], BaseException]] = {
    "refused login": lambda: LoginRefusedError("injected: the server refused the credentials"),
    "lost connection": lambda: TargetError("injected: connection lost", Failure.NETWORK),
    "permission denied": lambda: TargetError("injected: permission denied", Failure.PRIVILEGE),
}


def case_target_failure(subject: Subject, recorder: Recorder, fault: str) -> None:
    """A failure from the target leaves AWSCURRENT untouched and the rotation resumable."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        before_version, before = world.holder(arn, CURRENT), world.value(arn, label=CURRENT)
        rotator = world.rotator()
        seen = {"target": 0}

        def deny(point: object) -> BaseException | None:
            if getattr(point, "where", "") == "target" and seen["target"] == 0:
                seen["target"] += 1
                return FAULTS[fault]()
            return None

        injected: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if fault == "permission denied":
            injected = Injector(fault=deny).installed(rotator, subject.write_points)
        else:
            login_fault(rotator, FAULTS[fault])
        with injected:
            result = world.rotate(arn, rotator)
        expect(not result.ok, f"{fault}: the rotation succeeded although the target failed")
        expect(
            result.failed_step in (Step.SET, Step.TEST),
            f"{fault}: the failure surfaced in {result.failed_step}, "
            "expected setSecret or testSecret",
        )
        expect(
            isinstance(result.error, SmrotateError),
            f"{fault}: the error is not a clear smrotate error: {result.error!r}",
        )
        expect(world.holder(arn, CURRENT) == before_version, f"{fault}: AWSCURRENT moved")
        expect(world.value(arn, label=CURRENT) == before, f"{fault}: AWSCURRENT's value changed")
        expect(subject.logs_in(before), f"{fault}: AWSCURRENT no longer logs in after the failure")
        resumed = world.rotate(arn, token=result.token)
        expect(resumed.ok, f"{fault}: resuming failed at {resumed.failed_step}: {resumed.error}")
        check_finished(world, arn, result.token, f"{fault}, resumed")
        recorder.count("failures injected")


def case_racing_rotations(subject: Subject, recorder: Recorder) -> None:
    """Two rotations of one secret interleaved step by step: the second is refused with a
    clear error, the first finishes; two invocations of the same rotation interleaved both
    succeed without changing anything twice."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        first, second = world.rotator(), world.rotator()
        a, b = str(uuid.uuid4()), str(uuid.uuid4())
        first.handle(_event(Step.CREATE, arn, a))
        try:
            second.handle(_event(Step.CREATE, arn, b))
        except RotationInProgressError:
            pass
        else:
            raise ConformanceFailure("a second rotation started while another was in progress")
        try:
            second.handle(_event(Step.SET, arn, b))
        except RotationStateError:
            pass
        else:
            raise ConformanceFailure("setSecret ran for a rotation that never got AWSPENDING")
        first.handle(_event(Step.SET, arn, a))
        try:
            LocalDriver(world.rotator().handle).rotate(arn)
        except RotationInProgressError:
            pass
        else:
            raise ConformanceFailure("the driver started a rotation while another was in progress")
        for step in (Step.TEST, Step.FINISH):
            first.handle(_event(step, arn, a))
        check_finished(world, arn, a, "after the first of two racing rotations")
        expect(b not in world.labels(arn), "the refused rotation left a labelled version")

        same = str(uuid.uuid4())
        one, two = world.rotator(), world.rotator()
        for step in STEPS_IN_ORDER:
            one.handle(_event(step, arn, same))
            value = world.value(arn, version=same)
            two.handle(_event(step, arn, same))
            expect(
                world.value(arn, version=same) == value,
                f"a repeated {step.value} changed the new value",
            )
        check_finished(world, arn, same, "after two invocations of one rotation interleaved")
        recorder.count("races")


RACES = 2  # two-process races per subject: the first staggered, then a simultaneous start


def case_racing_processes(subject: Subject, recorder: Recorder, races: int = RACES) -> bool:
    """Two rotations of one secret started at the same instant from two processes (threads
    for a target that lives in the test process), `races` times, the first staggered so that
    one racer writes its version while the other is changing the password. After each race:
    labels consistent, no AWSPENDING left, AWSCURRENT logs in, and the other rotation was
    refused (or ran after the first had finished). False when the platform cannot fork."""
    from smrotate.testing.kit.racing import SIMULTANEOUS, STAGGERED, can_fork, race

    with World(subject, recorder) as world:
        processes = subject.races_in_processes(world.rotator())
        if processes and not can_fork():
            return False
        endpoint = world.serve()
        arn = world.new_secret()
        went_through = 0
        for n in range(races):
            timings = STAGGERED if n == 0 else SIMULTANEOUS
            outcomes = race(subject.build, endpoint, arn, timings, processes=processes)
            world.errors.extend(o.error for o in outcomes if o.error)
            when = (
                f"race {n + 1} ({'staggered' if n == 0 else 'simultaneous'}, "
                f"{'two processes' if processes else 'two threads'}: "
                + "; ".join(o.describe() for o in outcomes)
                + ")"
            )
            check_labels(world, arn, when)
            expect(world.holder(arn, PENDING) is None, f"{when}: AWSPENDING was left behind")
            expect(
                subject.logs_in(world.value(arn, label=CURRENT)),
                f"{when}: AWSCURRENT does not log in: the account is stranded",
            )
            done = [o.token for o in outcomes if o.ok]
            expect(  # both only one after the other: the second began after the first finished
                len(done) < 2 or world.holder(arn, PREVIOUS) in done,
                f"{when}: both rotations went through at once",
            )
            expect(
                all(o.ok or o.refused for o in outcomes),
                f"{when}: a racer failed instead of finishing or backing off",
            )
            went_through += any(o.ok for o in outcomes)
            recorder.count("races")
        expect(went_through > 0, "no race let a rotation through: the rotator refuses them all")
        _rotate_ok(world, arn, "the rotation after the races")
    return True


def case_cancel_and_cleanup(subject: Subject, recorder: Recorder) -> bool:
    """A rotation stopped after each step, cancelled, cleaned up (`smrotate cancel --cleanup`
    with the rotator), then a new rotation that succeeds. False when the rotator cannot check
    logins (not a cleanup.CleanupChecks): cleanup needs that, so the case does not apply."""
    from smrotate.operator.cleanup import CleanupChecks, Decision, cancel
    from smrotate.testing.aws import enable_rotation

    with World(subject, recorder) as world:
        if not isinstance(world.rotator(), CleanupChecks):
            return False
        for stop in (Step.CREATE, Step.SET, Step.TEST):
            arn = world.new_secret()
            when = f"cancelled after {stop.value}"
            steps = STEPS_IN_ORDER[: STEPS_IN_ORDER.index(stop) + 1]
            result = LocalDriver(world.rotator().handle).rotate(arn, steps=steps)
            expect(
                result.error is None, f"{when}: the steps before the cancel failed: {result.error}"
            )
            rotator = world.rotator()
            assert isinstance(rotator, CleanupChecks)
            report = cancel(rotator.store, arn, cleanup=True, dry_run=False, rotator=rotator)
            expect(
                report.plan is not None and report.plan.decision is not Decision.REFUSE,
                f"{when}: cleanup refused: {report.plan.reason if report.plan else 'no plan'}",
            )
            check_labels(world, arn, f"{when}, cleaned up")
            expect(world.holder(arn, PENDING) is None, f"{when}: cleanup left AWSPENDING")
            expect(
                subject.logs_in(world.value(arn, label=CURRENT)),
                f"{when}: AWSCURRENT does not log in after cleanup (the account is stranded)",
            )
            enable_rotation(arn)  # what the next RotateSecret does on AWS
            _rotate_ok(world, arn, f"{when}: the next rotation")
            recorder.count("cancels")
        return True
