"""The threat model's attacks that apply to any password rotator with the admin strategies.

The attacker can write the rotated secret and does not hold the admin secret. Each case plays
one attack and then checks the target through the subject's `logs_in` (what the target really
accepts), not only that the rotation failed. A case returns False when it does not apply (not
an admin strategy, or the secret names no admin secret).
"""

from __future__ import annotations

import json

from smrotate.store import CURRENT, PENDING, PREVIOUS, Secret, SecretStore
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject
from smrotate.testing.kit.world import World

ADMIN_STRATEGIES = ("single-user-via-admin", "alternating-users")


class AttackSucceeded(AssertionError):
    """The rotator did what the threat model forbids; the message says what."""


def _admin_value(world: World, secret: Secret) -> Secret | None:
    arn = secret.get("masterarn")
    if not isinstance(arn, str) or not arn:
        return None
    raw = SecretStore().client.get_secret_value(SecretId=arn, VersionStage=CURRENT)
    return dict(json.loads(raw["SecretString"]))


def _write(world: World, arn: str, value: Secret) -> None:
    """What the attacker can do: put a new AWSCURRENT value into the rotated secret."""
    world.remember(value)
    SecretStore().client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))


def case_admin_never_changes_itself(subject: Subject, recorder: Recorder) -> bool:
    """The attacker writes the admin's own user name into the secret (with the admin's real
    password: the worst case, a guess that is right). The admin must refuse to reset or clone
    itself for another secret: afterwards the admin's password still logs in, and no version
    the attacker can read holds new admin credentials."""
    if subject.strategy not in ADMIN_STRATEGIES:
        return False
    with World(subject, recorder) as world:
        arn = world.new_secret()
        user = world.value(arn, label=CURRENT)
        admin = _admin_value(world, user)
        if admin is None:
            return False
        forged = {**user, "username": admin["username"], "password": admin["password"]}
        _write(world, arn, forged)
        result = world.rotate(arn)
        if result.ok:
            raise AttackSucceeded(
                "a rotation of a secret naming the admin's own user succeeded: the admin "
                "changed itself for another secret"
            )
        if not subject.logs_in(admin):
            raise AttackSucceeded("the admin's own password no longer logs in after the attack")
        pending = world.holder(arn, PENDING)
        if pending is not None:
            value = world.value(arn, version=pending)
            if value.get("username") == admin["username"] and subject.logs_in(value):
                raise AttackSucceeded("AWSPENDING, which the attacker reads, logs in as the admin")
        recorder.count("attacks")
        return True


def case_identity_is_exact(subject: Subject, recorder: Recorder) -> bool:
    """A secret whose user name differs from the real user's only in letter case: no target
    that compares names exactly may count its login as the real user's. The rotation either
    refuses, or rotates that exact name; the real user's password never changes."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        user = world.value(arn, label=CURRENT)
        name = str(user["username"])
        if name.upper() == name:
            return False
        # A pair (alternating-pair) names its second user in AWSPREVIOUS: that name too.
        users = [user] if subject.second_user is None else [world.value(arn, label=PREVIOUS), user]
        for real in users:
            _write(world, arn, {**real, "username": str(real["username"]).upper()})
        result = world.rotate(arn)
        for real in users:
            if not subject.logs_in(real):
                raise AttackSucceeded(
                    f"after rotating a secret naming {str(real['username']).upper()!r}, the "
                    f"password of {real['username']!r} changed"
                )
        if result.ok and not subject.logs_in(world.value(arn, label=CURRENT)):
            raise AttackSucceeded("the rotation succeeded but AWSCURRENT does not log in")
        recorder.count("attacks")
        return True
