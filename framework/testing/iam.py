"""moto IAM and STS that refuse access keys as AWS does, for the IAM rotator's tests and kit.

moto's STS answers GetCallerIdentity for any key (an unknown one gets a made-up identity), and
moto's own enforcement (`INITIAL_NO_AUTH_ACTION_COUNT`) checks every service at once and still
accepts a deactivated key. `sts_checks_keys()` makes STS alone authenticate every request
while it is active: the key must be an IAM user's key in moto, Active, and the request signed
with its secret; otherwise STS answers 403 InvalidClientTokenId (or SignatureDoesNotMatch), as
AWS does. Other services keep accepting any credentials. It works with `mock_aws` and with a
`ThreadedMotoServer` in the same process (both use the same classes); moto 5.2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from smrotate.testing.aws import REGION


@dataclass(frozen=True)
class UserKey:
    """An IAM user and one of its access keys, made in moto."""

    username: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    arn: str = ""

    def secret(self, **extra: Any) -> dict[str, Any]:
        """The IAM rotator's secret value for this key."""
        return {
            "engine": "iam",
            "username": self.username,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **extra,
        }


def _key_status(account: str, region: str, access_key_id: str) -> str | None:
    """The status of an IAM user's access key in moto, None when no user has it."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    user = iam_backends[account][get_partition(region)].get_user_from_access_key_id(access_key_id)
    if user is None:
        return None
    return str(next(k.status for k in user.access_keys if k.access_key_id == access_key_id))


def _authenticate(response: Any, resource: str = "*") -> None:
    """STS's request check: a known, Active user key and a valid signature (no policy check:
    GetCallerIdentity needs no permission on AWS)."""
    from moto.core.exceptions import InvalidClientTokenIdError
    from moto.iam.access_control import IAMRequest

    if "Authorization" not in response.headers:
        raise InvalidClientTokenIdError()
    path = response.raw_path
    query = urlparse(response.uri).query
    request = IAMRequest(  # raises InvalidClientTokenId for a key no user has
        account_id=response.current_account,
        method=response.method,
        path=f"{path}?{query}" if query else path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    )
    status = _key_status(response.current_account, response.region, response.get_access_key())
    if status != "Active":
        raise InvalidClientTokenIdError()
    request.check_signature()


@contextmanager
def sts_checks_keys() -> Iterator[None]:
    """While active, moto's STS refuses unknown, inactive and deleted keys and bad signatures."""
    from moto.sts.responses import TokenResponse

    name = "_authenticate_and_authorize_normal_action"
    own = name in TokenResponse.__dict__
    saved = TokenResponse.__dict__.get(name)
    setattr(TokenResponse, name, _authenticate)
    try:
        yield
    finally:
        if own:
            setattr(TokenResponse, name, saved)
        else:
            delattr(TokenResponse, name)


def create_user(name: str, *, path: str = "/", keys: int = 1, client: Any = None) -> UserKey:
    """An IAM user in moto with `keys` access keys (0 to 2); the last key made is returned (an
    empty key id and secret when `keys` is 0)."""
    import boto3

    iam = client or boto3.client("iam", region_name=REGION)
    arn = str(iam.create_user(UserName=name, Path=path)["User"]["Arn"])
    made = UserKey(name, "", "", arn)
    for _ in range(keys):
        made = add_key(name, arn, client=iam)
    return made


def add_key(name: str, arn: str | None = None, *, client: Any = None) -> UserKey:
    """A new access key for the IAM user `name`."""
    import boto3

    iam = client or boto3.client("iam", region_name=REGION)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = arn or str(iam.get_user(UserName=name)["User"]["Arn"])
    return UserKey(name, str(key["AccessKeyId"]), str(key["SecretAccessKey"]), arn)


def identity(access_key_id: str, secret_access_key: str) -> str | None:
    """The ARN STS says these credentials are, or None when STS refuses them."""
    import boto3
    from botocore.exceptions import ClientError

    sts = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=None,
    )
    try:
        return str(sts.get_caller_identity()["Arn"])
    except ClientError:
        return None


def key_states(name: str, *, client: Any = None) -> dict[str, str]:
    """Access key id -> status (Active, Inactive) of the IAM user `name`."""
    import boto3

    iam = client or boto3.client("iam", region_name=REGION)
    found = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    return {str(k["AccessKeyId"]): str(k["Status"]) for k in found}
