"""The local driver: Secrets Manager's part of a rotation, played on this machine.

On AWS, RotateSecret checks that no rotation is in progress, creates the token's version and
invokes the rotation function four times. `LocalDriver.rotate` does the same with any handler
(the very function Lambda would call): it checks AWS's in-progress rule, makes a token or
resumes a given one, runs the four steps in order, stops at the first failure and returns a
`RotationResult`. It never calls RotateSecret and never reads a secret value.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.errors import RotationInProgressError, RotationStateError
from framework.events import STEPS_IN_ORDER, RotationEvent, Step
from framework.store import CURRENT, PENDING, SecretStore

Handler = Callable[[Mapping[str, Any], Any], Any]
StepObserver = Callable[[Step, BaseException | None], None]


@dataclass(frozen=True)
class LocalContext:
    """The few attributes of a Lambda context that handlers read."""

    function_name: str = "smrotate-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:smrotate-local"

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's budget, as if a fresh 15-minute invocation."""
        return 900_000


@dataclass
class RotationResult:
    """What a local rotation did: its token, the steps that succeeded, the error that stopped it."""

    secret_id: str
    token: str
    steps_done: list[Step] = field(default_factory=list)
    error: BaseException | None = None
    failed_step: Step | None = None

    @property
    def ok(self) -> bool:
        """True when all four steps succeeded."""
        return self.error is None and len(self.steps_done) == len(STEPS_IN_ORDER)


class LocalDriver:
    """Runs rotations through `handler` as Secrets Manager would."""

    def __init__(self, handler: Handler, store: SecretStore | None = None) -> None:
        self.handler = handler
        self.store = store or SecretStore()

    def rotate(
        self,
        secret_id: str,
        *,
        token: str | None = None,
        rotation_token: str | None = None,
        on_step: StepObserver | None = None,
        steps: tuple[Step, ...] = STEPS_IN_ORDER,
    ) -> RotationResult:
        """Run the steps for `secret_id`; resume `token` when given, else start a new rotation.

        Raises RotationInProgressError when another version holds AWSPENDING (AWS's rule for
        RotateSecret), and RotationStateError when `token` cannot be resumed. Step failures do
        not raise: they end the run and are returned in the result.
        """
        description = self.store.describe(secret_id)
        unfinished = description.unfinished
        if token is None:
            if unfinished is not None:
                raise RotationInProgressError(
                    f"a previous rotation of secret {description.name} isn't complete: version "
                    f"{unfinished} holds AWSPENDING. Resume it with --resume {unfinished}, or "
                    "cancel it with `smrotate cancel --cleanup`"
                )
            token = str(uuid.uuid4())
        else:
            labels = description.labels(token)
            if unfinished is not None and unfinished != token:
                raise RotationInProgressError(
                    f"version {token} is not the rotation in progress for secret "
                    f"{description.name}: version {unfinished} holds AWSPENDING"
                )
            if labels and PENDING not in labels and CURRENT not in labels:
                raise RotationStateError(
                    f"version {token} of secret {description.name} is no longer pending; "
                    "start a new rotation instead"
                )
        result = RotationResult(secret_id=description.arn, token=token)
        for step in steps:
            event = RotationEvent(step, description.arn, token, rotation_token).as_dict()
            try:
                self.handler(event, LocalContext())
            except Exception as exc:  # the handler's failure ends the rotation, as on AWS
                result.error = exc
                result.failed_step = step
                if on_step is not None:
                    on_step(step, exc)
                return result
            result.steps_done.append(step)
            if on_step is not None:
                on_step(step, None)
        return result
