"""`ConformanceSuite`: the kit's cases as pytest tests, for any rotator.

Subclass it in a test module and give it a `subject` fixture:

    class TestMyRotator(ConformanceSuite):
        @pytest.fixture
        def subject(self) -> Subject:
            return Subject(name="my-rotator", rotator=..., make_secret=..., logs_in=...)

Every test also scans what the rotator printed, logged and raised for secret values and the
RotationToken, and fails naming where one appeared.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smrotate.testing.kit import attacks, cases
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject

# The crash points are split into this many tests, so that pytest-xdist can run them side by
# side: a database rotator's full set takes a minute in one test.
CRASH_POINT_PARTS = 4


def _part_ids(part: int) -> str:
    return f"part {part + 1} of {CRASH_POINT_PARTS}"


class ConformanceSuite:
    """The conformance cases; a subclass supplies the `subject` fixture."""

    @pytest.fixture
    def subject(self) -> Subject:
        """The rotator under test: override in the subclass."""
        raise NotImplementedError("define a `subject` fixture returning a Subject")

    @pytest.fixture(autouse=True)
    def kit_recorder(
        self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> Iterator[Recorder]:
        """Collects what the case saw, then scans all output for secret values."""
        recorder = Recorder()
        yield recorder
        recorder.count("cases")
        out, err = capfd.readouterr()
        leaks = recorder.leaks(
            {
                "standard output": out,
                "standard error": err,
                "log records": "\n".join(
                    record.getMessage()
                    for phase in ("setup", "call")
                    for record in caplog.get_records(phase)
                ),
                "error messages": "\n".join(recorder.errors),
            }
        )
        if leaks:
            pytest.fail(
                f"a secret value or the RotationToken appeared in: {', '.join(leaks)}",
                pytrace=False,
            )

    def test_full_rotations(self, subject: Subject, kit_recorder: Recorder) -> None:
        """Three rotations in a row with label and login checks after each."""
        cases.case_full_rotations(subject, kit_recorder)

    def test_steps_twice(self, subject: Subject, kit_recorder: Recorder) -> None:
        """Every step twice, then again after the rotation finished."""
        cases.case_steps_twice(subject, kit_recorder)

    @pytest.mark.parametrize("part", range(CRASH_POINT_PARTS), ids=_part_ids)
    def test_crash_points(self, subject: Subject, kit_recorder: Recorder, part: int) -> None:
        """A crash before the first write and after every write (so before and after every
        write), each resumed with the same token (in CRASH_POINT_PARTS tests, which together
        cover every crash point once)."""
        cases.case_crash_points(subject, kit_recorder, part, CRASH_POINT_PARTS)

    @pytest.mark.parametrize("fault", sorted(cases.FAULTS))
    def test_target_failure(self, subject: Subject, kit_recorder: Recorder, fault: str) -> None:
        """Refused login, lost connection, permission denied: AWSCURRENT untouched, resumable."""
        cases.case_target_failure(subject, kit_recorder, fault)

    def test_racing_rotations(self, subject: Subject, kit_recorder: Recorder) -> None:
        """Two rotations of one secret interleaved; one invocation repeated concurrently."""
        cases.case_racing_rotations(subject, kit_recorder)

    def test_racing_processes(self, subject: Subject, kit_recorder: Recorder) -> None:
        """Two rotations started at once from two processes: never a stranded account."""
        if not cases.case_racing_processes(subject, kit_recorder):
            pytest.skip("the racers are forked processes; this platform cannot fork")

    def test_rotate_immediately_false(self, subject: Subject, kit_recorder: Recorder) -> None:
        """RotateSecret with RotateImmediately=false: testSecret alone, on AWSCURRENT's value."""
        from smrotate.testing.kit.trial_rotation import case_test_rotation

        case_test_rotation(subject, kit_recorder)

    def test_cancel_and_cleanup(self, subject: Subject, kit_recorder: Recorder) -> None:
        """Cancel after each step, clean up with the rotator, then rotate again."""
        if not cases.case_cancel_and_cleanup(subject, kit_recorder):
            pytest.skip("cleanup checks logins through cleanup.CleanupChecks; not one")

    def test_attack_admin_never_changes_itself(
        self, subject: Subject, kit_recorder: Recorder
    ) -> None:
        """A secret naming the admin's own user: refused, and the admin still logs in."""
        if not attacks.case_admin_never_changes_itself(subject, kit_recorder):
            pytest.skip("not an admin strategy, or the secret names no admin secret")

    def test_attack_identity_is_exact(self, subject: Subject, kit_recorder: Recorder) -> None:
        """A user name that differs only in case never rotates the real user's password."""
        if not attacks.case_identity_is_exact(subject, kit_recorder):
            pytest.skip("the user name has no letters to change the case of")
