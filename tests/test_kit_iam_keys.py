"""The conformance kit on the IAM access-key rotator, against moto's IAM with STS checking keys
(framework/testing/iam.py): crashes before and after every write, IAM's CreateAccessKey,
UpdateAccessKey, DeleteAccessKey and TagUser included (the kit counts botocore writes to other
services), retries, target failures, racing rotations and the leak scan, which knows the
secret access keys (World.remember)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smrotate.rotators.iam_keys import IamAccessKeyRotator
from smrotate.store import Secret
from smrotate.testing.aws import account_id
from smrotate.testing.iam import create_user, identity, sts_checks_keys
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.world import World


@pytest.fixture
def sts_refuses_bad_keys() -> Iterator[None]:
    with sts_checks_keys():
        yield


def iam_subject(env: dict[str, str], previous_stays_valid: bool) -> Subject:
    """One function per IAM user (IAM_USER_NAME): each rotator the kit builds is pinned to the
    user of the secret made last, the one the case rotates."""
    users: list[str] = []

    def make_secret(world: World) -> Secret:
        user = create_user(world.unique_name("kit"))
        users.append(user.username)
        return user.secret()

    def logs_in(secret: Secret) -> bool:
        arn = f"arn:aws:iam::{account_id()}:user/{secret['username']}"
        return identity(secret["access_key_id"], secret["secret_access_key"]) == arn

    return Subject(
        name="iam access keys",
        rotator=lambda kit_env: IamAccessKeyRotator(
            env={**kit_env, **env, **({"IAM_USER_NAME": users[-1]} if users else {})}
        ),
        make_secret=make_secret,
        logs_in=logs_in,
        previous_stays_valid=previous_stays_valid,
    )


class TestIamKeysKit(ConformanceSuite):
    """The default lifecycle: AWSPREVIOUS's key works until the next rotation deletes it."""

    @pytest.fixture
    def subject(self, sts_refuses_bad_keys: None) -> Subject:
        return iam_subject({}, previous_stays_valid=True)
