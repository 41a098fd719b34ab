"""The local driver: Secrets Manager's part of a rotation, played on this machine.

On AWS, RotateSecret checks that no rotation is in progress, creates the token's version and
invokes the rotation function four times. `LocalDriver.rotate` does the same with any handler
(the very function Lambda would call): it checks AWS's in-progress rule, makes a token or
resumes a given one, runs the four steps in order, stops at the first failure and returns a
`RotationResult`. It never calls RotateSecret and never reads a secret value.

Two drivers may start rotations of one secret at the same moment (two `smrotate run`, two
schedulers). Secrets Manager has no lock, and locally the token's version cannot be made
without a value, so the exclusion is the handler's createSecret (`Rotator._create`): it writes
the value under the token's own claim label, re-reads the labels, and takes AWSPENDING only
when no other rotation holds or claims the secret; otherwise it removes its claim and raises
RotationInProgressError. Of two rotations, the one that reads last sees the other, so at most
one goes on; when both wrote before either read, both withdraw and claim again after a random
pause (a few rounds at most), and a rotation whose AWSCURRENT moved meanwhile (the other one
finished) backs off, since its value is stale. The driver adds its own check
for any handler: after createSecret it re-reads the labels and goes on to setSecret only if no
other version holds AWSPENDING without AWSCURRENT; if another does while its own token does too
(moto lets two versions hold a label), it removes AWSPENDING from its own version only and
backs off. A rotation that backs off raises RotationInProgressError, like one refused at start.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smrotate.errors import RotationInProgressError, RotationStateError
from smrotate.events import STEPS_IN_ORDER, RotationEvent, Step
from smrotate.labels import rotation_in_progress, rotation_starting
from smrotate.store import CURRENT, PENDING, SecretDescription, SecretStore

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
        RotateSecret) or claims the secret, and when a rotation starting at the same moment
        wins the secret (see the module docstring); RotationStateError when `token` cannot be
        resumed. Other step failures do not raise: they end the run and are returned in the
        result.
        """
        description = self.store.describe(secret_id)
        unfinished = description.unfinished
        if token is None:
            if unfinished is not None:
                raise RotationInProgressError(
                    rotation_in_progress(description.name, unfinished, secret_id)
                )
            if description.claims:
                raise RotationInProgressError(
                    rotation_starting(description.name, min(description.claims), secret_id)
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
        for index, step in enumerate(steps):
            event = RotationEvent(step, description.arn, token, rotation_token).as_dict()
            try:
                self.handler(event, LocalContext())
            except Exception as exc:  # the handler's failure ends the rotation, as on AWS
                result.error = exc
                result.failed_step = step
                if on_step is not None:
                    on_step(step, exc)
                if step is Step.CREATE and isinstance(exc, RotationInProgressError):
                    raise exc from None  # lost the secret to a rotation that started with it
                return result
            result.steps_done.append(step)
            if on_step is not None:
                on_step(step, None)
            if step is Step.CREATE and index + 1 < len(steps):
                self._check_exclusive(description, token)
        return result

    def _check_exclusive(self, description: SecretDescription, token: str) -> None:
        """After createSecret: stop if another version holds AWSPENDING without AWSCURRENT."""
        now = self.store.describe(description.arn)
        others = [v for v in now.unfinished_versions if v != token]
        if not others:
            return  # (a token without AWSPENDING is refused by setSecret itself)
        if PENDING not in now.labels(token):
            raise RotationInProgressError(
                f"after createSecret, version {others[0]} of secret {description.name} holds "
                f"AWSPENDING, not this rotation's version {token}: another rotation took the "
                "secret. This one stops before setSecret, having changed nothing"
            )
        self.store.remove_label(description.arn, PENDING, token)
        raise RotationInProgressError(
            f"version {others[0]} of secret {description.name} holds AWSPENDING too (a rotation "
            f"that started at the same moment); this one (version {token}) removed AWSPENDING "
            "from its own version and stops before setSecret, having changed nothing"
        )
