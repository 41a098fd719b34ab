"""The only code that calls the Secrets Manager API.

`SecretStore` wraps one boto3 client: DescribeSecret as a typed `SecretDescription`, values read
by version id (cached for the life of the process: a version's value never changes) or by label
(never cached), the pending version written with the RotationToken when there is one, labels
moved and removed. Operator tools (the CLI) also start, cancel and list rotations through it
(`start_rotation`, `cancel_rotation`, `list_secrets`, `version_dates`) on clients made by
`new_client`. Every AWS error becomes a StoreError that names the operation, the secret and
the AWS error code; no message quotes a value.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from smrotate import redaction
from smrotate.errors import SecretFormatError, StoreError, VersionNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smrotate.passwords import PasswordPolicy

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"
# The label a local rotation puts on its new version while it claims the secret: one per token
# (`claim_label`), so no claim can move another's away. See Rotator._create for the protocol.
CLAIM_PREFIX = "smrotate-claim-"

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_ATTEMPTS = 5
_CACHE_SIZE = 128

Secret = dict[str, Any]


def claim_label(token: str) -> str:
    """The claim label of the rotation whose version is `token`."""
    return CLAIM_PREFIX + token


@dataclass(frozen=True)
class SecretDescription:
    """DescribeSecret, typed: versions map to their labels; versions with no label are left out.

    smrotate's claim labels (`claim_label`) are not listed in `versions`: a version holding
    only a claim counts as unlabelled there, and `claims` lists the versions that hold one.
    """

    arn: str
    name: str
    rotation_enabled: bool
    rotation_lambda_arn: str | None = None
    versions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rotation_rules: Mapping[str, Any] = field(default_factory=dict)
    last_rotated: datetime | None = None
    last_changed: datetime | None = None
    next_rotation: datetime | None = None
    created: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    version_created: Mapping[str, datetime] = field(default_factory=dict)
    deleted: datetime | None = None
    claims: frozenset[str] = frozenset()
    # Replication: the primary's region (DescribeSecret names it on replicas) and, on the
    # primary, each replica region's (region, status, status message).
    primary_region: str | None = None
    replicas: tuple[tuple[str, str, str], ...] = ()
    kms_key_id: str | None = None  # the key that encrypts the values; None: aws/secretsmanager

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> SecretDescription:
        """Build from a DescribeSecret (or ListSecrets entry) response."""
        versions: dict[str, frozenset[str]] = {}
        claims: set[str] = set()
        for version, stages in (response.get("VersionIdsToStages") or {}).items():
            labels = frozenset(s for s in stages if not s.startswith(CLAIM_PREFIX))
            if labels:
                versions[version] = labels
            if any(s.startswith(CLAIM_PREFIX) for s in stages):
                claims.add(version)
        return cls(
            arn=response["ARN"],
            name=response["Name"],
            rotation_enabled=bool(response.get("RotationEnabled", False)),
            rotation_lambda_arn=response.get("RotationLambdaARN") or None,
            versions=versions,
            rotation_rules=dict(response.get("RotationRules") or {}),
            last_rotated=response.get("LastRotatedDate"),
            last_changed=response.get("LastChangedDate"),
            next_rotation=response.get("NextRotationDate"),
            created=response.get("CreatedDate"),
            tags={t["Key"]: t["Value"] for t in response.get("Tags") or []},
            deleted=response.get("DeletedDate"),
            claims=frozenset(claims),
            primary_region=response.get("PrimaryRegion") or None,
            kms_key_id=response.get("KmsKeyId") or None,
            replicas=tuple(
                (
                    str(r.get("Region", "")),
                    str(r.get("Status", "")),
                    str(r.get("StatusMessage", "")),
                )
                for r in response.get("ReplicationStatus") or ()
            ),
        )

    @classmethod
    def from_list_entry(cls, entry: Mapping[str, Any]) -> SecretDescription:
        """Build from one ListSecrets entry (its labels are under SecretVersionsToStages)."""
        return cls.from_response(
            {**entry, "VersionIdsToStages": entry.get("SecretVersionsToStages") or {}}
        )

    @property
    def region(self) -> str:
        """The region in the secret's ARN (arn:aws:secretsmanager:REGION:...)."""
        return self.arn.split(":")[3] if self.arn.count(":") >= 6 else ""

    @property
    def is_replica(self) -> bool:
        """True when this is a replica of a secret whose primary is in another region."""
        return self.primary_region is not None and self.primary_region != self.region

    def holders(self, label: str) -> list[str]:
        """Every version holding `label` (one on AWS; moto may leave two)."""
        return [version for version, labels in self.versions.items() if label in labels]

    def holder(self, label: str) -> str | None:
        """The version holding `label`, or None."""
        found = self.holders(label)
        return found[0] if found else None

    def labels(self, version: str) -> frozenset[str]:
        """The labels of `version` (empty when unknown or unlabelled)."""
        return self.versions.get(version, frozenset())

    @property
    def current(self) -> str | None:
        """The version holding AWSCURRENT."""
        return self.holder(CURRENT)

    @property
    def previous(self) -> str | None:
        """The version holding AWSPREVIOUS."""
        return self.holder(PREVIOUS)

    @property
    def unfinished(self) -> str | None:
        """The version holding AWSPENDING without AWSCURRENT: AWS's "rotation in progress" rule."""
        found = self.unfinished_versions
        return found[0] if found else None

    @property
    def unfinished_versions(self) -> list[str]:
        """Every version holding AWSPENDING without AWSCURRENT (one at most on AWS)."""
        return [v for v in self.holders(PENDING) if CURRENT not in self.versions[v]]

    def rivals(self, token: str) -> list[str]:
        """The other rotations that hold the secret: versions other than `token` that hold
        AWSPENDING without AWSCURRENT, or a claim (a local rotation that is starting)."""
        found = [v for v in self.unfinished_versions if v != token]
        return found + sorted(v for v in self.claims if v != token and v not in found)


@dataclass(frozen=True)
class VersionInfo:
    """One entry of ListSecretVersionIds: a version, its labels (claims included), its date."""

    version_id: str
    labels: frozenset[str]
    created: datetime | None


def _aware(moment: datetime | None) -> datetime | None:
    """`moment` with a time zone (UTC when it has none), to compare dates from any client."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def client_config(
    retry_mode: Literal["legacy", "standard", "adaptive"] = "standard",
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """botocore Config for smrotate's clients: explicit timeouts, and `max_attempts` attempts
    in all (the first included) in `retry_mode`, with botocore's backoff."""
    from botocore.config import Config

    return Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


@lru_cache(maxsize=8)
def _client(
    endpoint_url: str | None, region: str | None, profile: str | None
) -> SecretsManagerClient:
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)
    return session.client("secretsmanager", endpoint_url=endpoint_url, config=client_config())


def default_client(
    endpoint_url: str | None = None, region: str | None = None, profile: str | None = None
) -> SecretsManagerClient:
    """The process-wide client: endpoint from the argument, else SECRETS_MANAGER_ENDPOINT, else
    botocore's own settings (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL, config files)."""
    endpoint = endpoint_url or os.environ.get("SECRETS_MANAGER_ENDPOINT") or None
    return _client(endpoint, region, profile)


def new_client(
    session: Any,
    endpoint_url: str | None = None,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    retry_mode: Literal["legacy", "standard", "adaptive"] = "standard",
) -> SecretsManagerClient:
    """A new client from a boto3 `session`, for operator tools (the CLI), not the Lambda.

    Same timeouts as the process-wide client; `retry_mode` and `max_attempts` (every attempt,
    the first included, as AWS_MAX_ATTEMPTS counts them) are the caller's. The endpoint comes
    from the argument, else SECRETS_MANAGER_ENDPOINT, else botocore's own settings. Raises
    botocore's errors as they are (NoRegionError, ...).
    """
    endpoint = endpoint_url or os.environ.get("SECRETS_MANAGER_ENDPOINT") or None
    client: SecretsManagerClient = session.client(
        "secretsmanager", endpoint_url=endpoint, config=client_config(retry_mode, max_attempts)
    )
    return client


def reset_clients() -> None:
    """Forget the process-wide clients and cached values (tests that switch endpoints or mocks)."""
    _client.cache_clear()
    _VALUES.clear()


def forget_cached_values() -> None:
    """Drop every cached secret value (a new process would start so)."""
    _VALUES.clear()


class _ValueCache:
    """Secret strings by (secret ARN, version id): safe to keep, a version never changes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_VALUES = _ValueCache(_CACHE_SIZE)


def parse_secret(secret_string: str, what: str) -> Secret:
    """The JSON object in `secret_string`; SecretFormatError (not quoting it) otherwise."""
    redaction.register(secret_string)
    try:
        value = json.loads(secret_string)
    except json.JSONDecodeError as exc:
        raise SecretFormatError(
            f"{what} is not valid JSON (error at character {exc.pos}); "
            "store the credentials as a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise SecretFormatError(f"{what} is JSON but not an object; store a JSON object")
    redaction.register_secret(secret_string, value)
    return value


class SecretStore:
    """Typed access to Secrets Manager through one client; values by version id are cached."""

    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        *,
        cache: bool = True,
    ) -> None:
        self._client = client
        self._cache = cache

    @property
    def client(self) -> SecretsManagerClient:
        """The boto3 client (the process-wide one unless one was given)."""
        if self._client is None:
            self._client = default_client()
        return self._client

    def _call(self, operation: str, secret_id: str, **params: Any) -> Any:
        from botocore import xform_name
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, xform_name(operation))(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = redaction.scrub(str(error.get("Message", "")))
            cls = VersionNotFoundError if code == "ResourceNotFoundException" else StoreError
            raise cls(
                f"Secrets Manager {operation} on secret {secret_id} failed: {code}: {message}",
                code,
            ) from None
        except BotoCoreError as exc:
            raise StoreError(
                f"Secrets Manager {operation} on secret {secret_id} failed: "
                f"{type(exc).__name__}: {redaction.scrub(str(exc))}"
            ) from None

    def describe(self, secret_id: str) -> SecretDescription:
        """DescribeSecret, typed."""
        return SecretDescription.from_response(
            self._call("DescribeSecret", secret_id, SecretId=secret_id)
        )

    def read(
        self,
        secret_id: str,
        *,
        version_id: str | None = None,
        stage: str | None = None,
        fresh: bool = False,
    ) -> Secret:
        """The JSON value of a version, named by id (cached unless `fresh`) or by label (not
        cached).

        Raises VersionNotFoundError when the version or label has no value.
        """
        if (version_id is None) == (stage is None):
            raise ValueError("read() needs exactly one of version_id and stage")
        what = f"the value of secret {secret_id} " + (
            f"version {version_id}" if version_id else f"at label {stage}"
        )
        if version_id is not None and self._cache and not fresh:
            cached = _VALUES.get((secret_id, version_id))
            if cached is not None:
                return parse_secret(cached, what)
        params: dict[str, Any] = {"SecretId": secret_id}
        if version_id is not None:
            params["VersionId"] = version_id
        else:
            params["VersionStage"] = stage
        response = self._call("GetSecretValue", secret_id, **params)
        secret_string = response.get("SecretString")
        if secret_string is None:
            raise SecretFormatError(f"{what} is binary; smrotate rotates JSON string secrets")
        value = parse_secret(secret_string, what)
        if self._cache:
            _VALUES.put((response.get("ARN", secret_id), response["VersionId"]), secret_string)
            if version_id is not None:
                _VALUES.put((secret_id, version_id), secret_string)
        return value

    def read_if_exists(
        self, secret_id: str, version_id: str, *, fresh: bool = False
    ) -> Secret | None:
        """The value of a version, or None when the version has no value yet; asked of
        Secrets Manager even when cached if `fresh`."""
        try:
            return self.read(secret_id, version_id=version_id, fresh=fresh)
        except VersionNotFoundError:
            return None

    def remembered(self, secret_id: str, version_id: str) -> Secret | None:
        """The value this process read or wrote for the version, from the cache only."""
        cached = _VALUES.get((secret_id, version_id)) if self._cache else None
        return None if cached is None else parse_secret(cached, f"version {version_id}")

    def put_pending(
        self, secret_id: str, token: str, value: Secret, rotation_token: str | None = None
    ) -> None:
        """PutSecretValue: `value` as version `token`, labelled AWSPENDING.

        For the version that RotateSecret made (it already holds AWSPENDING). On a version that
        does not hold it, AWS moves AWSPENDING here from whichever version holds it: a new
        version is written with `put_claim` instead.
        """
        self._put(secret_id, token, value, rotation_token, PENDING)

    def put_claim(
        self, secret_id: str, token: str, value: Secret, rotation_token: str | None = None
    ) -> None:
        """PutSecretValue: `value` as the new version `token`, labelled with its own claim label
        only (never AWSPENDING, which AWS would move away from another rotation)."""
        self._put(secret_id, token, value, rotation_token, claim_label(token))

    def _put(
        self, secret_id: str, token: str, value: Secret, rotation_token: str | None, label: str
    ) -> None:
        secret_string = json.dumps(value)
        redaction.register_secret(secret_string, value)
        params: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "SecretString": secret_string,
            "VersionStages": [label],
        }
        if rotation_token is not None:
            params["RotationToken"] = rotation_token
        self._call("PutSecretValue", secret_id, **params)
        if self._cache:
            _VALUES.put((secret_id, token), secret_string)

    def move_label(
        self, secret_id: str, label: str, to_version: str, from_version: str | None
    ) -> None:
        """UpdateSecretVersionStage: move `label` to `to_version` (from `from_version`)."""
        params: dict[str, Any] = {
            "SecretId": secret_id,
            "VersionStage": label,
            "MoveToVersionId": to_version,
        }
        if from_version is not None:
            params["RemoveFromVersionId"] = from_version
        self._call("UpdateSecretVersionStage", secret_id, **params)

    def remove_label(self, secret_id: str, label: str, from_version: str) -> None:
        """UpdateSecretVersionStage: take `label` off `from_version`."""
        self._call(
            "UpdateSecretVersionStage",
            secret_id,
            SecretId=secret_id,
            VersionStage=label,
            RemoveFromVersionId=from_version,
        )

    # ------------------------------------------------- operator calls (the CLI)

    def start_rotation(
        self,
        secret_id: str,
        *,
        token: str,
        lambda_arn: str | None = None,
        rules: Mapping[str, Any] | None = None,
        immediately: bool = True,
    ) -> str:
        """RotateSecret with ClientRequestToken `token`; returns the new version id.

        RotationLambdaARN and RotationRules are sent only when given: on AWS, a rotation without
        an ARN uses the function already configured (moto instead erases it).
        """
        params: dict[str, Any] = {
            "SecretId": secret_id,
            "ClientRequestToken": token,
            "RotateImmediately": immediately,
        }
        if lambda_arn:
            params["RotationLambdaARN"] = lambda_arn
        if rules:
            params["RotationRules"] = dict(rules)
        response = self._call("RotateSecret", secret_id, **params)
        return str(response.get("VersionId") or token)

    def cancel_rotation(self, secret_id: str) -> str | None:
        """CancelRotateSecret; the version id named in the response (the cancelled rotation's)."""
        response = self._call("CancelRotateSecret", secret_id, SecretId=secret_id)
        version = response.get("VersionId")
        return str(version) if version else None

    def list_secrets(
        self,
        *,
        filters: Sequence[Mapping[str, Any]] = (),
        include_planned_deletion: bool = False,
        page_size: int = 100,
    ) -> Iterator[SecretDescription]:
        """ListSecrets, every page (`page_size` per call, at most 100), as descriptions.

        Each entry carries the rotation fields and the labels, so no DescribeSecret is needed.
        """
        params: dict[str, Any] = {"MaxResults": page_size}
        if filters:
            params["Filters"] = [dict(f) for f in filters]
        if include_planned_deletion:
            params["IncludePlannedDeletion"] = True
        for page in self._pages("ListSecrets", "(all secrets)", **params):
            for entry in page.get("SecretList") or []:
                yield SecretDescription.from_list_entry(entry)

    def list_versions(
        self, secret_id: str, *, include_deprecated: bool = True
    ) -> list[VersionInfo]:
        """ListSecretVersionIds, every page, newest first; with `include_deprecated`, the
        versions that hold no label too (AWS leaves them out otherwise; moto lists them always)."""
        params: dict[str, Any] = {"SecretId": secret_id, "MaxResults": 100}
        if include_deprecated:
            params["IncludeDeprecated"] = True
        found = [
            VersionInfo(
                str(version["VersionId"]),
                frozenset(version.get("VersionStages") or ()),
                version.get("CreatedDate"),
            )
            for page in self._pages("ListSecretVersionIds", secret_id, **params)
            for version in page.get("Versions") or []
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda v: _aware(v.created) or oldest, reverse=True)

    def version_dates(self, secret_id: str) -> dict[str, datetime]:
        """ListSecretVersionIds, every page: version id -> creation date (labelled versions)."""
        return {
            str(version["VersionId"]): version["CreatedDate"]
            for page in self._pages(
                "ListSecretVersionIds", secret_id, SecretId=secret_id, MaxResults=100
            )
            for version in page.get("Versions") or []
            if version.get("CreatedDate") is not None
        }

    def _pages(self, operation: str, secret_id: str, **params: Any) -> Iterator[Any]:
        """Every page of a paginated operation, following NextToken."""
        while True:
            page = self._call(operation, secret_id, **params)
            yield page
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    def random_password(self, policy: PasswordPolicy) -> str:
        """GetRandomPassword under `policy`."""
        response = self._call(
            "GetRandomPassword",
            "(none)",
            PasswordLength=policy.length,
            ExcludeCharacters=policy.exclude_characters,
            ExcludeNumbers=policy.exclude_numbers,
            ExcludePunctuation=policy.exclude_punctuation,
            ExcludeUppercase=policy.exclude_uppercase,
            ExcludeLowercase=policy.exclude_lowercase,
            RequireEachIncludedType=policy.require_each_included_type,
        )
        password = str(response["RandomPassword"])
        redaction.register(password)
        return password
