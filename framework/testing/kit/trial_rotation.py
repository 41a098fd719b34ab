"""The kit's case for RotateSecret with RotateImmediately=false (a test of the configuration).

Secrets Manager then makes an AWSPENDING version that holds AWSCURRENT's value, runs only
testSecret on it, and removes the label again; the rotation itself waits for the schedule.
The case does the same by hand: moto's own RotateSecret copies the value the secret was created
with rather than AWSCURRENT's, and leaves AWSPENDING behind (docs/moto-vs-aws.md).
"""

from __future__ import annotations

import uuid

from smrotate.store import CURRENT, PENDING, SecretStore
from smrotate.testing import aws
from smrotate.testing.kit.cases import _rotate_ok, check_labels, expect
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject
from smrotate.testing.kit.world import ROTATION_TOKEN, World


def case_test_rotation(subject: Subject, recorder: Recorder) -> None:
    """RotateImmediately=false: testSecret alone passes on the pending copy of AWSCURRENT's
    value and changes nothing at the target; once the label is removed, a rotation succeeds."""
    with World(subject, recorder) as world:
        arn = world.new_secret()
        current = world.value(arn, label=CURRENT)
        token = str(uuid.uuid4())
        aws.add_pending_copy_of_current(arn, token)
        event = {
            "Step": "testSecret",
            "SecretId": arn,
            "ClientRequestToken": token,
            "RotationToken": ROTATION_TOKEN,
        }
        try:
            world.rotator().handle(event)
        except Exception as exc:
            expect(False, f"RotateImmediately=false: testSecret failed: {exc}")
        expect(
            world.value(arn, label=CURRENT) == current and subject.logs_in(current),
            "after the test rotation AWSCURRENT changed or no longer logs in",
        )
        SecretStore().client.update_secret_version_stage(
            SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=token
        )
        check_labels(world, arn, "after the test rotation")
        _rotate_ok(world, arn, "the rotation after the test rotation")
        recorder.count("test rotations")
