"""The IAM and STS calls of the IAM access-key rotator, each error worded, no secret quoted.

IAM calls use the rotation function's own credentials (its boto3 session). A secret's key only
ever signs STS GetCallerIdentity, which proves whose key it is. A new secret access key is
registered for redaction as its response arrives, before botocore could log the body.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from smrotate import redaction
from smrotate.errors import (
    ConfigurationError,
    Failure,
    IdentityMismatchError,
    LoginRefusedError,
    TargetError,
)
from smrotate.observability import logger
from smrotate.store import client_config

T = TypeVar("T")
POLICY_DOC = "docs/iam-keys.md#the-iam-policy"
REFUSED = ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException")
GONE = ("NoSuchEntity",)
_NEW_SECRET = re.compile(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>")
sleep, monotonic = time.sleep, time.monotonic  # tests replace them: moto needs no waiting


@dataclass(frozen=True)
class IamKey:
    """One secret version, parsed: the user and its access key; `label` names it in messages."""

    username: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    label: str = "the secret"

    def same_account(self, other: object) -> bool:
        """True when `other` is a key of the same user (cleanup's candidates)."""
        return isinstance(other, IamKey) and other.username == self.username


@dataclass(frozen=True)
class KeyInfo:
    """One entry of ListAccessKeys; `age`: seconds since IAM created the key."""

    access_key_id: str
    status: str
    age: float


@dataclass(frozen=True)
class User:
    """GetUser: the user's ARN (path included) and its tags."""

    arn: str
    tags: Mapping[str, str]


def _register_new_secret(response_dict: Mapping[str, Any], **_: Any) -> None:
    found = _NEW_SECRET.search(response_dict.get("body") or b"")
    if found:
        redaction.register(found.group(1).decode("utf-8", "replace"))


class UserKeys:
    """The access keys of one IAM user, through one IAM client made on first use."""

    def __init__(self, session: Any, username: str) -> None:
        self.session, self.username = session, username
        self._iam: Any = None

    @property
    def iam(self) -> Any:
        if self._iam is None:
            self._iam = self.session.client("iam", config=client_config())
            self._iam.meta.events.register("before-parse.iam.CreateAccessKey", _register_new_secret)
        return self._iam

    def call(self, operation: str, *, allow: tuple[str, ...] = (), **params: Any) -> Any:
        """One IAM call for this user; None when it fails with an error code in `allow`."""
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        what = f"IAM {operation} for user {self.username!r}"
        try:
            return getattr(self.iam, xform_name(operation))(UserName=self.username, **params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            if code in allow:
                return None
            message = f"{what} failed: {code}: {redaction.scrub(str(error.get('Message', '')))}"
        except BotoCoreError as exc:
            raise TargetError(
                f"{what} failed: {type(exc).__name__}: {redaction.scrub(str(exc))}; check that "
                "the function reaches IAM (iam.amazonaws.com)",
                Failure.NETWORK,
            ) from None
        if code in ("AccessDenied", "AccessDeniedException"):
            hint = f"grant the function's role iam:{operation} on this user only ({POLICY_DOC})"
            raise TargetError(f"{message}; {hint}", Failure.PRIVILEGE)
        if code == "NoSuchEntity":
            raise ConfigurationError(f"{message}; IAM_USER_NAME must name an existing IAM user")
        raise TargetError(f"{message}; the rotation can be retried as it is")

    def user(self) -> User:
        """GetUser: the ARN STS must return for this user's keys, and its tags."""
        found = self.call("GetUser")["User"]
        return User(str(found["Arn"]), {t["Key"]: t["Value"] for t in found.get("Tags") or ()})

    def list(self) -> list[KeyInfo]:
        """ListAccessKeys (a user has two keys at most: one page)."""
        now = datetime.now(UTC)  # IAM's dates carry their zone
        return [
            KeyInfo(k["AccessKeyId"], k["Status"], (now - k["CreateDate"]).total_seconds())
            for k in self.call("ListAccessKeys")["AccessKeyMetadata"]
        ]

    def create(self) -> tuple[str, str] | None:
        """CreateAccessKey: (key id, secret), or None when the user already has two keys."""
        made = self.call("CreateAccessKey", allow=("LimitExceeded",))
        if made is None:
            return None
        key = made["AccessKey"]
        redaction.register(key["SecretAccessKey"])
        logger.info(f"created access key {key['AccessKeyId']} for IAM user {self.username!r}")
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def deactivate(self, key_id: str) -> None:
        """UpdateAccessKey to Inactive; nothing when the key is gone already."""
        if self.call("UpdateAccessKey", AccessKeyId=key_id, Status="Inactive", allow=GONE):
            logger.info(f"deactivated access key {key_id} of IAM user {self.username!r}")

    def retire(self, key: KeyInfo, why: str) -> None:
        """Deactivate (unless inactive already), then delete; each step safe to repeat."""
        if key.status != "Inactive":
            self.deactivate(key.access_key_id)
        self.call("DeleteAccessKey", AccessKeyId=key.access_key_id, allow=GONE)
        logger.info(f"deleted access key {key.access_key_id} of IAM user {self.username!r} ({why})")

    def prove(self, key: IamKey, arn: str, hint: str) -> None:
        """STS GetCallerIdentity signed with `key`: LoginRefusedError when STS refuses the key,
        IdentityMismatchError when it is another principal's key than `arn`'s (`hint`: what to
        do, in both messages)."""
        from botocore.exceptions import BotoCoreError, ClientError

        what = f"access key {key.access_key_id} of {key.label}"
        sts = self.session.client(
            "sts",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            aws_session_token=None,
            config=client_config(),
        )
        try:
            found = str(sts.get_caller_identity()["Arn"])
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in REFUSED:
                raise LoginRefusedError(
                    f"STS GetCallerIdentity refused {what} ({code}): the key is unknown, "
                    f"inactive, deleted or not yet known everywhere, or its secret is wrong; {hint}"
                ) from None
            raise TargetError(f"STS GetCallerIdentity with {what} failed: {code}") from None
        except BotoCoreError as exc:
            raise TargetError(
                f"STS GetCallerIdentity with {what} failed: {type(exc).__name__}", Failure.NETWORK
            ) from None
        if found != arn:
            raise IdentityMismatchError(f"{what} belongs to {found}, not to {arn}; {hint}")


class NotYet(TargetError):
    """IAM has not caught up with a change yet (it is eventually consistent)."""


def patiently(attempt: Callable[[], T], seconds: float, what: str, retry: type[Exception]) -> T:
    """`attempt()`, again after a `retry` error (never an IdentityMismatchError) with a doubling
    pause (0.5 s to 5 s) while `seconds` allow: IAM is eventually consistent."""
    deadline, pause = monotonic() + seconds, 0.5
    while True:
        try:
            return attempt()
        except IdentityMismatchError:
            raise
        except retry:
            if monotonic() + pause > deadline:
                raise
            logger.info(f"{what}: refused for now, trying again in {pause:g} s")
            sleep(pause)
            pause = min(pause * 2, 5.0)
