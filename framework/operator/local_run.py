"""`smrotate run`: the four steps on this machine, through the local driver and a rotator.

The rotator is built on the CLI's store, so it talks to the same endpoint, region and profile.
Each step is reported as it finishes, with its duration; a failed step ends the run with the
scrubbed error and the command that resumes it.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smrotate.errors import SmrotateError
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.rotator import Rotator
from smrotate.store import PENDING, SecretStore


@dataclass
class StepReport:
    """One step's outcome: name, seconds, error text (scrubbed by the rotator) or None."""

    step: Step
    seconds: float
    error: str | None = None


@dataclass
class RunReport:
    """The rotation's result plus per-step timings."""

    result: RotationResult
    steps: list[StepReport] = field(default_factory=list)
    # After a failure: does the version hold AWSPENDING (or its claim)? None when unknown.
    pending: bool | None = None


def run_rotation(
    store: SecretStore,
    rotator: Rotator,
    secret_id: str,
    *,
    resume: str | None,
    report: Callable[[StepReport], None],
) -> RunReport:
    """Run (or resume) a rotation of `secret_id`; `report` hears each step as it finishes.

    Raises CliError (exit 7) when `resume` is not a version of the secret, and the driver's
    RotationInProgressError / RotationStateError when the rotation cannot start or resume
    (nothing was changed then).
    """
    if resume is not None and resume not in store.describe(secret_id).versions:
        raise CliError(
            f"version {resume} is not a labelled version of secret {secret_id}, so there is no "
            f"rotation to resume; see `smrotate status {shlex.quote(secret_id)}`",
            ExitCode.REFUSED,
        )
    timings: list[StepReport] = []
    started = [time.perf_counter()]

    def on_step(step: Step, error: BaseException | None) -> None:
        now = time.perf_counter()
        entry = StepReport(step, now - started[0], None if error is None else _error_text(error))
        started[0] = now
        timings.append(entry)
        report(entry)

    driver = LocalDriver(rotator.handle, store)
    result = driver.rotate(secret_id, token=resume, on_step=on_step)
    return RunReport(result, timings, None if result.ok else _holds_pending(store, result))


def _holds_pending(store: SecretStore, result: RotationResult) -> bool | None:
    """Whether the failed rotation's version holds AWSPENDING or its claim (one DescribeSecret)."""
    try:
        description = store.describe(result.secret_id)
    except SmrotateError:
        return None
    return PENDING in description.labels(result.token) or result.token in description.claims


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def step_line(entry: StepReport) -> str:
    """`createSecret   ok      0.12 s` or `testSecret     FAILED  0.30 s  <error>`."""
    outcome = "ok" if entry.error is None else "FAILED"
    line = f"{entry.step.value:<14}{outcome:<8}{entry.seconds:6.2f} s"
    return line + (f"  {entry.error}" if entry.error else "")


def summary_lines(run: RunReport, ref: str, rotator_name: str) -> list[str]:
    """What happened, and on failure how to resume or clean up."""
    result = run.result
    if result.ok:
        return [f"rotated: version {result.token} is AWSCURRENT"]
    quoted, rot = shlex.quote(ref), shlex.quote(rotator_name)
    failed = result.failed_step.value if result.failed_step else "a step"
    if run.pending is False:
        return [
            f"rotation failed at {failed}; version {result.token} holds no label, so there is "
            "nothing to resume and AWSCURRENT is unchanged",
            f"fix the cause above, then run again: smrotate run {quoted} --rotator {rot}",
        ]
    held = "keeps AWSPENDING" if run.pending else "may hold AWSPENDING (status could not tell)"
    return [
        f"rotation failed at {failed}; version {result.token} {held}",
        f"resume it: smrotate run {quoted} --rotator {rot} --resume {result.token}",
        f"or clean it up: smrotate cancel {quoted} --cleanup --rotator {rot}",
    ]


def run_record(run: RunReport) -> dict[str, Any]:
    """JSON-ready."""
    result = run.result
    return {
        "secret_arn": result.secret_id,
        "version_id": result.token,
        "ok": result.ok,
        "failed_step": result.failed_step.value if result.failed_step else None,
        "steps": [
            {
                "step": s.step.value,
                "ok": s.error is None,
                "seconds": round(s.seconds, 3),
                "error": s.error,
            }
            for s in run.steps
        ],
    }
