"""The base class: one rotation step, run as Secrets Manager's rotation protocol requires.

`Rotator.handle(event, context)` is the whole Lambda handler. It parses the event, calls
DescribeSecret once, checks the protocol state (rotation enabled; the token absent only at
createSecret, AWSPENDING otherwise; already AWSCURRENT means success with nothing to do), then
runs the step. Three steps call one hook each; finishSecret needs none:

- createSecret -> `build_pending(ctx)`: the new value, built from ctx.current().
- setSecret    -> `apply_pending(ctx, pending)`: make the pending credentials valid.
- testSecret   -> `test_pending(ctx, pending)`: prove the pending credentials work.
- finishSecret: AWSCURRENT moves to the token (AWSPREVIOUS follows on its own), then AWSPENDING
  is removed from it.

Every failure raises, so Secrets Manager retries the rotation; every step is safe to run again.
"""

from __future__ import annotations

import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn

from smrotate import redaction
from smrotate.errors import (
    RotationInProgressError,
    RotationStateError,
    SecretFormatError,
    StoreError,
    VersionNotFoundError,
)
from smrotate.events import RotationEvent, Step, parse_event
from smrotate.labels import finish_labels, rotation_in_progress, rotation_starting
from smrotate.observability import (
    emit_step_metrics,
    is_lambda_context,
    lambda_entry,
    logger,
    new_metrics,
)
from smrotate.passwords import DEFAULT_EXCLUDED, PasswordPolicy, password_source_from_env
from smrotate.store import (
    CURRENT,
    PENDING,
    PREVIOUS,
    Secret,
    SecretDescription,
    SecretStore,
    claim_label,
)

LambdaHandler = Callable[[Mapping[str, Any], Any], None]

# createSecret of a new token (Rotator._take_pending): rounds of claiming the secret when other
# rotations claim it at the same moment, and the random pause (seconds) between two rounds.
CLAIM_ROUNDS = 3
CLAIM_BACKOFF = (0.05, 0.5)
_JITTER = random.SystemRandom()


class StepContext:
    """What a hook sees: the event, the secret's description, and reads of its versions.

    Each version is read once per step (by version id) and parsed once by the rotator's
    `parse_secret`, which raises on a value the rotator cannot use; `parsed` gives the result.
    The context knows the store and how to make passwords, not the rotator.
    """

    def __init__(
        self,
        store: SecretStore,
        event: RotationEvent,
        description: SecretDescription,
        parse: Callable[[Secret, str], object],
        password: Callable[[], str],
    ) -> None:
        self.store = store
        self.event = event
        self.description = description
        self._parse = parse
        self._password = password
        self._versions: dict[str, tuple[Secret, object]] = {}
        self._others: dict[str, SecretDescription] = {}

    @property
    def arn(self) -> str:
        """The rotated secret's ARN."""
        return self.description.arn

    @property
    def token(self) -> str:
        """The version id of this rotation (the ClientRequestToken)."""
        return self.event.token

    def _read(self, version: str, label: str) -> tuple[Secret, object]:
        if version not in self._versions:
            value = self.store.read(self.arn, version_id=version)
            what = f"the {label} value of secret {self.description.name}"
            self._versions[version] = value, self._parse(value, what)
        return self._versions[version]

    def _current(self) -> tuple[Secret, object]:
        version = self.description.current
        if version is None:
            raise RotationStateError(
                f"secret {self.description.name} has no AWSCURRENT version; put the working "
                "credentials with PutSecretValue before rotating"
            )
        return self._read(version, CURRENT)

    def _previous(self) -> tuple[Secret, object] | None:
        version = self.description.previous
        if version is None or version == self.description.current:
            return None
        try:
            return self._read(version, PREVIOUS)
        except (VersionNotFoundError, SecretFormatError):
            return None

    def _pending(self) -> tuple[Secret, object]:
        try:
            return self._read(self.token, PENDING)
        except VersionNotFoundError:
            raise RotationStateError(
                f"version {self.token} of secret {self.description.name} has no value yet; "
                "createSecret must run first"
            ) from None

    def current(self) -> Secret:
        """The AWSCURRENT value; RotationStateError when no version holds AWSCURRENT."""
        return self._current()[0]

    def previous(self) -> Secret | None:
        """The AWSPREVIOUS value, or None when there is none (or it has no usable value)."""
        found = self._previous()
        return None if found is None else found[0]

    def pending(self) -> Secret:
        """The token's value; RotationStateError when createSecret has not stored one."""
        return self._pending()[0]

    def parsed(self, label: str) -> object | None:
        """`parse_secret`'s result for the version holding `label` (AWSPENDING: the token's),
        as `current`, `previous` and `pending` read it; None only for a missing AWSPREVIOUS."""
        if label == CURRENT:
            return self._current()[1]
        if label == PENDING:
            return self._pending()[1]
        if label != PREVIOUS:
            raise ValueError(f"no version of a step is labelled {label!r}")
        found = self._previous()
        return None if found is None else found[1]

    def read_current_of(self, secret_id: str, what: str) -> Secret:
        """The AWSCURRENT value of another secret (an admin secret, named `what` in errors);
        not yet checked: the caller completes it first if needed, then checks it."""
        if secret_id in (self.arn, self.description.name):
            raise SecretFormatError(
                f"{what} names secret {self.description.name} itself; it must name a separate "
                "admin secret"
            )
        return self.store.read(secret_id, stage=CURRENT)

    def describe(self, secret_id: str) -> SecretDescription:
        """DescribeSecret of another secret (its full ARN, its tags: an admin secret), once per
        step for each id: the admin checks and the RDS lookup share one call."""
        if secret_id not in self._others:
            description = self.store.describe(secret_id)
            self._others[secret_id] = self._others[description.arn] = description
        return self._others[secret_id]

    def confirm_pending(self) -> None:
        """Re-read the labels; RotationStateError unless the token still holds AWSPENDING and
        no other version holds it without AWSCURRENT (moto lets two versions hold it).

        Strategies call it right before their first change at the target, so a rotation whose
        AWSPENDING was taken over (a racing writer, a cleanup) never changes the credentials.
        A rival's claim is no reason to stop: that rotation backs off when it sees AWSPENDING
        here (see Rotator._take_pending). One DescribeSecret; read-only.
        """
        description = self.store.describe(self.arn)
        labels = description.labels(self.token)
        others = [v for v in description.unfinished_versions if v != self.token]
        if PENDING not in labels and CURRENT not in labels:
            raise RotationStateError(
                f"version {self.token} of secret {self.description.name} no longer holds "
                "AWSPENDING (another rotation or a cleanup took it); this rotation stops "
                "without changing the credentials"
            )
        if others:
            raise RotationStateError(
                f"version {others[0]} of secret {self.description.name} holds AWSPENDING too "
                f"(another rotation); this one (version {self.token}) stops without changing "
                "the credentials"
            )

    def new_password(self) -> str:
        """A fresh password under the rotator's password policy."""
        password = self._password()
        redaction.register(password)
        return password


class Rotator(ABC):
    """Runs the rotation protocol; subclasses supply three hooks (see the module docstring).

    Configuration comes from `env` (os.environ by default) and is read when a step first needs
    it, so a bad setting never blocks a step that does not use it (finishSecret uses none).
    """

    default_excluded_characters: ClassVar[str] = DEFAULT_EXCLUDED

    def __init__(
        self, *, store: SecretStore | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.store = store or SecretStore()
        self.env: Mapping[str, str] = dict(os.environ) if env is None else env
        self._metrics = new_metrics()

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def build_pending(self, ctx: StepContext) -> Secret:
        """createSecret: return the value for the pending version, built from ctx.current().

        Called only while the token has no value, so it may be random (ctx.new_password());
        it must not change anything outside Secrets Manager: the base class stores the value.
        """

    @abstractmethod
    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        """setSecret: make `pending` valid at the target, keeping AWSCURRENT working if it can.

        Idempotent: when `pending` already works, change nothing. It may be re-run after a crash
        at any point inside it. Raise (never return) when it cannot finish.
        """

    @abstractmethod
    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        """testSecret: prove that `pending` works at the target; raise if it does not.

        Read-only: it must not change the target, so it can run any number of times.
        """

    def after_finish(self, ctx: StepContext) -> None:
        """finishSecret, once AWSCURRENT has moved to the token: retire what the version that
        left AWSCURRENT held (`ctx.parsed(CURRENT)` and `ctx.current()` still name it). Default:
        nothing. Not run again when a retried finishSecret finds the token AWSCURRENT already,
        so a crash just before it skips it: do here only what may be skipped safely or is done
        again later (the next rotation)."""
        return

    def check_secret(self, value: Secret, what: str) -> None:
        """Raise SecretFormatError when `value` lacks what this rotator needs; default: no check.

        `what` names the value in the message (the secret and its label or version).
        """
        return

    def parse_secret(self, value: Secret, what: str) -> object:
        """The form of `value` the hooks work with, checked (SecretFormatError naming the
        field); the step parses each version once and keeps the result (`ctx.parsed`).
        Default: `check_secret`, then the value itself."""
        self.check_secret(value, what)
        return value

    # ------------------------------------------------------------ configuration

    @property
    def password_policy(self) -> PasswordPolicy:
        """The policy from the AWS-compatible variables, with this rotator's excluded defaults."""
        return PasswordPolicy.from_env(self.env, self.default_excluded_characters)

    @property
    def password_source(self) -> Callable[[PasswordPolicy], str]:
        """Local generation, or GetRandomPassword when PASSWORD_SOURCE=secretsmanager."""
        return password_source_from_env(self.env, self.store.random_password)

    def new_password(self) -> str:
        """A password from `password_source` under `password_policy`."""
        return self.password_source(self.password_policy)

    def context(self, event: RotationEvent, description: SecretDescription) -> StepContext:
        """The context of one step (operators use it to call the engine outside a rotation)."""
        return StepContext(self.store, event, description, self.parse_secret, self.new_password)

    # ---------------------------------------------------------------- handler

    @classmethod
    def handler(cls, **kwargs: Any) -> LambdaHandler:
        """A Lambda handler that builds one rotator on first use and reuses it while warm."""
        instance: list[Rotator] = []

        def run(event: Mapping[str, Any], context: Any) -> None:
            if not instance:
                instance.append(cls(**kwargs))
            instance[0].handle(event, context, flush_metrics=not is_lambda_context(context))

        entry = lambda_entry(run, new_metrics())

        def lambda_handler(event: Mapping[str, Any], context: Any = None) -> None:
            if is_lambda_context(context):
                entry(event, context)
            else:  # the local driver, a test: no Lambda context to take keys from
                run(event, context)

        lambda_handler.__doc__ = f"Lambda entry point of {cls.__name__}."
        return lambda_handler

    def handle(
        self, event: Mapping[str, Any], context: Any = None, *, flush_metrics: bool = True
    ) -> None:
        """Run one rotation step; raise on any failure (scrubbed of secret values). The step's
        metrics are written at once unless `flush_metrics` is false (Lambda's entry point
        writes them with `log_metrics` when the invocation ends)."""
        started = time.perf_counter()
        step_name = "unknown"
        try:
            parsed = parse_event(event)
            step_name = parsed.step.value
            redaction.register(parsed.rotation_token)
            logger.set_correlation_id(parsed.token)
            logger.append_keys(step=step_name, secret_id=parsed.secret_id, version=parsed.token)
            if context is not None and hasattr(context, "aws_request_id"):
                logger.append_keys(request_id=context.aws_request_id)
            self._run(parsed)
        except Exception as exc:
            redaction.scrub_exception(exc)
            logger.error(
                f"{step_name} failed: {type(exc).__name__}: {exc}",
                extra={"outcome": "failed", "error_type": type(exc).__name__},
            )
            emit_step_metrics(
                self._metrics, step_name, _ms_since(started), False, flush=flush_metrics
            )
            raise
        else:
            logger.info(f"{step_name} succeeded", extra={"outcome": "succeeded"})
            emit_step_metrics(
                self._metrics, step_name, _ms_since(started), True, flush=flush_metrics
            )
        finally:
            logger.remove_keys(["step", "secret_id", "secret_arn", "version", "request_id"])
            logger.set_correlation_id(None)

    def _run(self, event: RotationEvent) -> None:
        description = self.store.describe(event.secret_id)
        logger.append_keys(secret_arn=description.arn)
        ctx = self.context(event, description)
        if not description.rotation_enabled:
            raise RotationStateError(
                f"rotation is not enabled for secret {description.name}; enable it with "
                "RotateSecret (or `smrotate rotate`) naming this rotation function"
            )
        labels = description.versions.get(event.token)
        if labels is None:
            if event.step is not Step.CREATE:
                raise RotationStateError(
                    f"version {event.token} is not a labelled version of secret "
                    f"{description.name}; {event.step.value} runs only on the AWSPENDING version "
                    "that createSecret made"
                )
            self._check_not_in_progress(ctx)
        elif CURRENT in labels:
            if event.step is Step.FINISH and PENDING in labels:
                self.store.remove_label(ctx.arn, PENDING, event.token)
            logger.info(f"version {event.token} is already AWSCURRENT; nothing to do")
            return
        elif PENDING not in labels:
            raise RotationStateError(
                f"version {event.token} of secret {description.name} holds "
                f"{', '.join(sorted(labels))}, not AWSPENDING; start a new rotation instead"
            )
        {
            Step.CREATE: self._create,
            Step.SET: self._set,
            Step.TEST: self._test,
            Step.FINISH: self._finish,
        }[event.step](ctx)

    def _check_not_in_progress(self, ctx: StepContext) -> None:
        """At createSecret with a new token: no other rotation may be unfinished or starting."""
        rivals = ctx.description.rivals(ctx.token)
        if not rivals:
            return
        other = rivals[0]
        if other in ctx.description.claims:
            raise RotationInProgressError(rotation_starting(ctx.description.name, other))
        raise RotationInProgressError(rotation_in_progress(ctx.description.name, other))

    def _create(self, ctx: StepContext) -> None:
        """createSecret. Two cases:

        - The token already holds AWSPENDING (RotateSecret made the version, as on AWS, or this
          rotation took the label before a crash): store the value with PutSecretValue if the
          version has none yet. RotateSecret's own in-progress check made that label exclusive.
        - The token is new (local mode, or a direct invocation): AWS's PutSecretValue with
          AWSPENDING would move the label away from a racing rotation whose setSecret may
          already be changing the password, and moto would leave two versions holding it. So
          the value is written under the token's own claim label, and AWSPENDING is taken only
          once a fresh DescribeSecret shows no other rotation (see `_take_pending`).
        """
        if PENDING in ctx.description.labels(ctx.token):
            # Asked afresh: moto re-creates the version without its value when a client retries
            # RotateSecret with the same token, and a cached answer would let finishSecret
            # promote an empty version. The value this process stored for the token, if it
            # remembers one, is stored again: earlier steps may have set that password already.
            if self.store.read_if_exists(ctx.arn, ctx.token, fresh=True) is not None:
                self._drop_claim(ctx, ctx.description)
                logger.info("the pending version already has a value; nothing to do")
                return
            value = self.store.remembered(ctx.arn, ctx.token) or self._new_value(ctx)
            self.store.put_pending(ctx.arn, ctx.token, value, ctx.event.rotation_token)
            logger.info("stored the new value as AWSPENDING")
            return
        if ctx.token not in ctx.description.claims:  # else a crash left the claim: resume it
            value = self._new_value(ctx)
            self.store.put_claim(ctx.arn, ctx.token, value, ctx.event.rotation_token)
        self._take_pending(ctx)
        logger.info("stored the new value as AWSPENDING")

    def _new_value(self, ctx: StepContext) -> Secret:
        ctx.current()  # fail early, with a clear message, when AWSCURRENT is unusable
        value = self.build_pending(ctx)
        self.parse_secret(value, f"the new value built for secret {ctx.description.name}")
        return value

    def _take_pending(self, ctx: StepContext) -> None:
        """Move AWSPENDING to the claimed token, unless another rotation holds the secret.

        The rule, for any number of rotations starting at once: each writes its version under
        its own claim label first, then reads the labels, and goes on only if it sees no other
        claim and no other unfinished AWSPENDING; it keeps a label (its claim, then AWSPENDING)
        until it finishes. Of two rotations, the one that reads last therefore sees the other,
        so at most one goes on. One that sees another's AWSPENDING has lost: it removes its own
        claim (nothing else) and raises RotationInProgressError. One that sees only claims
        (both wrote before either read) withdraws its claim, waits a random pause, and claims
        again if the secret is free by then, for at most CLAIM_ROUNDS rounds. Whenever
        AWSCURRENT has moved since the step began (a rival finished), this value is stale and
        the rotation backs off. Only the winner attaches AWSPENDING: without
        RemoveFromVersionId, AWS refuses to attach a label that another version holds, so a
        rotation that took it in between makes this one back off.
        """
        description = self.store.describe(ctx.arn)
        for round_ in range(1, CLAIM_ROUNDS + 1):
            if description.current != ctx.description.current:
                self._back_off(ctx, description)  # a rival finished: this value is stale
            rivals = description.rivals(ctx.token)
            if not rivals:
                break
            self._drop_claim(ctx, description)
            if round_ == CLAIM_ROUNDS or set(rivals) & set(description.unfinished_versions):
                self._back_off(ctx, description)
            time.sleep(_JITTER.uniform(*CLAIM_BACKOFF))
            description = self.store.describe(ctx.arn)
            if not description.rivals(ctx.token) and description.current == ctx.description.current:
                # free now: claim again, then read again
                self.store.move_label(ctx.arn, claim_label(ctx.token), ctx.token, None)
                description = self.store.describe(ctx.arn)
        stale = description.holder(PENDING)  # only the AWSCURRENT version can hold it here
        try:
            self.store.move_label(ctx.arn, PENDING, ctx.token, stale)
        except StoreError:
            after = self.store.describe(ctx.arn)
            if after.rivals(ctx.token):
                self._back_off(ctx, after)
            raise
        self._drop_claim(ctx)

    def _back_off(self, ctx: StepContext, description: SecretDescription) -> NoReturn:
        rivals = description.rivals(ctx.token)
        rival = rivals[0] if rivals else description.current
        self._drop_claim(ctx, description)
        raise RotationInProgressError(
            f"another rotation of secret {ctx.description.name} started at the same time "
            f"(version {rival}); this one (version {ctx.token}) backs off before changing "
            "anything, and its version keeps no label. Start a new rotation once the other "
            "one is done"
        )

    def _drop_claim(self, ctx: StepContext, description: SecretDescription | None = None) -> None:
        """Remove the token's claim label, if it holds one (`description`: a fresh read)."""
        if description is not None and ctx.token not in description.claims:
            return
        try:
            self.store.remove_label(ctx.arn, claim_label(ctx.token), ctx.token)
        except StoreError:
            if ctx.token in self.store.describe(ctx.arn).claims:
                raise  # else it is gone already (cleanup removed it): nothing to do

    def _set(self, ctx: StepContext) -> None:
        self.apply_pending(ctx, ctx.pending())

    def _test(self, ctx: StepContext) -> None:
        self.test_pending(ctx, ctx.pending())

    def _finish(self, ctx: StepContext) -> None:
        current = ctx.description.current
        finish_labels(self.store, ctx.arn, ctx.token, current)
        logger.info(f"AWSCURRENT moved to version {ctx.token} from {current}")
        self.after_finish(ctx)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
