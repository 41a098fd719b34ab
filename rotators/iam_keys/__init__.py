"""Rotates an IAM user's access keys, engine `iam`; the key lifecycle and policy: docs/iam-keys.md.

One function per user (IAM_USER_NAME). AWS makes a key's secret, so createSecret creates the
key, once AWSCURRENT's key has proved with STS GetCallerIdentity that it is that user's. To stay
within IAM's two keys, it first deletes AWSPREVIOUS's key and any key no labelled version holds
(a crash's orphan), never AWSCURRENT's. The function's role makes every IAM call.
"""

from __future__ import annotations

import re
from typing import Any, cast

from smrotate.errors import (
    ConfigurationError,
    LoginRefusedError,
    RotationInProgressError,
    SecretFormatError,
    TargetError,
)
from smrotate.labels import rotation_in_progress
from smrotate.observability import logger
from smrotate.rotator import Rotator, StepContext
from smrotate.rotators.iam_keys.checks import KeyChecks
from smrotate.rotators.iam_keys.keys import IamKey, NotYet, UserKeys, patiently
from smrotate.settings import env_bool, env_float
from smrotate.store import CURRENT, PENDING, PREVIOUS, Secret

USER_VARIABLE = "IAM_USER_NAME"
DEACTIVATE_VARIABLE = "IAM_DEACTIVATE_PREVIOUS"
PROPAGATION_VARIABLE = "IAM_PROPAGATION_SECONDS"
PROPAGATION_DEFAULT = 30.0
# The user tag naming the last local rotation (a token RotateSecret did not make) that creates
# a key: its own crashed attempt's key may be deleted at once, another's only after the grace.
CREATING_TAG = "smrotate:creating-key"
ORPHAN_GRACE = 15 * 60.0  # seconds: longer than any Lambda invocation
_KEY_ID = r"[A-Za-z0-9_]{16,128}"
CURRENT_HINT = "put a working key of this very user in AWSCURRENT, then rotate again"
PENDING_HINT = "a retry resumes at testSecret; if IAM is slow, raise IAM_PROPAGATION_SECONDS"


class IamAccessKeyRotator(KeyChecks, Rotator):
    """{"engine": "iam", "username", "access_key_id", "secret_access_key"} secrets of the one
    IAM user named by IAM_USER_NAME; other fields are kept as they are."""

    def __init__(self, *, session: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._keys: UserKeys | None = None

    @property
    def username(self) -> str:
        """The pinned user (IAM_USER_NAME); ConfigurationError when it is not set."""
        name = self.env.get(USER_VARIABLE, "").strip()
        if not name:
            raise ConfigurationError(
                f"environment variable {USER_VARIABLE} is not set: set it to the name of the IAM "
                "user whose access keys this function rotates (one function per user)"
            )
        return name

    @property
    def keys(self) -> UserKeys:
        """The pinned user's keys, through the function's own credentials."""
        if self._keys is None:
            import boto3

            self._keys = UserKeys(self._session or boto3.session.Session(), self.username)
        return self._keys

    def parse_secret(self, value: Secret, what: str) -> IamKey:
        """The version as an IamKey; SecretFormatError naming the field, or naming the user
        when it is not IAM_USER_NAME's (compared exactly)."""
        if value.get("engine") != "iam":
            raise SecretFormatError(f'{what} must have "engine": "iam"')
        for name in ("username", "access_key_id", "secret_access_key"):
            if not isinstance(value.get(name), str) or not value[name]:
                raise SecretFormatError(f"{what} has no {name!r} string")
        if not re.fullmatch(_KEY_ID, value["access_key_id"]):
            raise SecretFormatError(f"{what}: 'access_key_id' is not an AWS access key id")
        if value["username"] != self.username:
            raise SecretFormatError(
                f"{what} names IAM user {value['username']!r}, but this function rotates "
                f"{self.username!r} ({USER_VARIABLE}); refused before any change"
            )
        return IamKey(value["username"], value["access_key_id"], value["secret_access_key"], what)

    # ------------------------------------------------------------------ hooks

    def build_pending(self, ctx: StepContext) -> Secret:
        """createSecret: AWSCURRENT's key proves it is the user's, room is made (`_make_room`),
        then CreateAccessKey. Rerun after a crash at any point, it deletes the key the crashed
        run made (no version holds it) and creates another: never a third key."""
        seconds = env_float(self.env, PROPAGATION_VARIABLE, PROPAGATION_DEFAULT, low=0, high=600)
        env_bool(self.env, DEACTIVATE_VARIABLE, False)  # a bad setting stops it before any change
        current = _key(ctx, CURRENT)
        user = self.keys.user()
        self.keys.prove(current, user.arn, CURRENT_HINT)
        exclusive = PENDING in ctx.description.labels(ctx.token)  # RotateSecret made the token
        tag = user.tags.get(CREATING_TAG)
        seen = self._make_room(ctx, current, mine=exclusive or tag == ctx.token)
        if not exclusive and tag != ctx.token:
            self.keys.call("TagUser", Tags=[{"Key": CREATING_TAG, "Value": ctx.token}])
        key_id, secret = patiently(lambda: self._new_key(seen), seconds, "CreateAccessKey", NotYet)
        return {**ctx.current(), "access_key_id": key_id, "secret_access_key": secret}

    def _new_key(self, seen: set[str]) -> tuple[str, str]:
        made = self.keys.create()
        if made is not None:
            return made
        listed = {k.access_key_id for k in self.keys.list()}
        if listed - seen:
            raise RotationInProgressError(
                f"access key {min(listed - seen)} of IAM user {self.username!r} appeared while "
                "this rotation made room for its own: another rotation made it; this one backs off"
            )
        raise NotYet(
            f"IAM user {self.username!r} still has two access keys ({', '.join(sorted(listed))}) "
            "after the deletion that made room; IAM may not have caught up yet: retry the rotation"
        )

    def _make_room(self, ctx: StepContext, current: IamKey, *, mine: bool) -> set[str]:
        """Delete every key of the user but AWSCURRENT's that AWSPREVIOUS holds or no labelled
        version holds; return the key ids listed. RotationInProgressError when a key is another
        rotation's: held by its version, or made moments ago and not stored yet, unless `mine`
        (RotateSecret made this token, or the tag names it: a key no version holds is then
        this rotation's own crashed attempt's)."""
        keys = self.keys.list()  # before the labels: a key listed here was made before them
        fresh = ctx.store.describe(ctx.arn)
        rivals = set(fresh.rivals(ctx.token))
        holders: dict[str, set[str]] = {}
        for version in {*fresh.versions, *fresh.claims}:
            try:
                value = ctx.store.read_if_exists(ctx.arn, version) or {}
            except SecretFormatError:
                continue  # holds no key
            holders.setdefault(str(value.get("access_key_id")), set()).add(version)
        kept = []
        for key in keys:
            versions = holders.get(key.access_key_id, set())
            labels = {label for version in versions for label in fresh.labels(version)}
            if key.access_key_id == current.access_key_id:
                kept.append(key.access_key_id)
            elif versions & rivals:
                raise RotationInProgressError(rotation_in_progress(fresh.name, min(versions)))
            elif not versions and (mine or key.age > ORPHAN_GRACE):
                self.keys.retire(key, "held by no labelled version of the secret")
            elif not versions:
                raise RotationInProgressError(
                    f"access key {key.access_key_id} of IAM user {self.username!r} was made "
                    f"{key.age:.0f} s ago and no version of secret {fresh.name} holds it: "
                    "another rotation is creating it. If a crashed local run left it, resume that "
                    f"run, or retry after {ORPHAN_GRACE / 60:.0f} minutes (it is then deleted)"
                )
            elif PREVIOUS in labels and CURRENT not in labels:
                self.keys.retire(key, f"AWSPREVIOUS's key, version {min(versions)}")
            else:
                kept.append(key.access_key_id)
        if len(kept) > 1:
            raise TargetError(
                f"IAM user {self.username!r} has two access keys ({', '.join(kept)}) and neither "
                "may be deleted: one is AWSCURRENT's, the other is held by a labelled version "
                "other than AWSPREVIOUS. Delete the key nothing uses (aws iam delete-access-key) "
                "or take that label off, then rotate again"
            )
        return {key.access_key_id for key in keys}

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        """setSecret: nothing; IAM made the key active. Idempotent, no call."""
        logger.info("setSecret: the new access key is active since createSecret")

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        """testSecret: STS says the pending key is exactly the user's, retried for up to
        IAM_PROPAGATION_SECONDS (default 30) while IAM propagates it. Read-only."""
        key = _key(ctx, PENDING)
        seconds = env_float(self.env, PROPAGATION_VARIABLE, PROPAGATION_DEFAULT, low=0, high=600)
        arn = self.keys.user().arn
        test = lambda: self.keys.prove(key, arn, PENDING_HINT)  # noqa: E731
        patiently(test, seconds, "testSecret", LoginRefusedError)

    def after_finish(self, ctx: StepContext) -> None:
        """With IAM_DEACTIVATE_PREVIOUS=true, deactivate the key of the version that left
        AWSCURRENT (after the move: AWSCURRENT never holds a dead key). A crash between the two
        leaves that key active until the next createSecret deletes it."""
        if env_bool(self.env, DEACTIVATE_VARIABLE, False):
            old, new = _key(ctx, CURRENT), _key(ctx, PENDING)
            if old.access_key_id != new.access_key_id:
                self.keys.deactivate(old.access_key_id)


def _key(ctx: StepContext, label: str) -> IamKey:
    """The version holding `label`, as parse_secret made it."""
    return cast(IamKey, ctx.parsed(label))


lambda_handler = IamAccessKeyRotator.handler()
