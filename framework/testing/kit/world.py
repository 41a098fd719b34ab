"""A private Secrets Manager (moto, in-process) for one conformance case.

`World` sets fake AWS credentials, starts moto, and gives the cases what they need: secrets with
rotation enabled, label snapshots, the values behind labels, and every secret value it has
seen (for the leak scan). It restores the environment when it ends.
"""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from types import TracebackType

from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rds import reset_client as reset_rds_client
from smrotate.rotator import Rotator
from smrotate.store import Secret, SecretStore, reset_clients
from smrotate.testing import aws
from smrotate.testing.kit.recorder import Recorder
from smrotate.testing.kit.subject import Subject

ROTATION_TOKEN = "c0f1e2d3-b4a5-4697-8877-66554433aa11-kit"  # noqa: S105 - fake, sent with every step: must never leak


_SERVER: list[str] = []


def _shared_server() -> str:
    if not _SERVER:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=aws.free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        _SERVER.append(f"http://{host}:{port}")
    return _SERVER[0]


class World:
    """One moto Secrets Manager and the subject's secrets in it."""

    def __init__(self, subject: Subject, recorder: Recorder) -> None:
        self.subject = subject
        self.recorder = recorder
        self.seen_values = recorder.seen_values
        self.seen_values.add(ROTATION_TOKEN)
        self.errors = recorder.errors
        self._stack = ExitStack()
        self._endpoint: str | None = None

    def __enter__(self) -> World:
        from moto import mock_aws

        self._stack.enter_context(aws.fake_aws_environment())
        for reset in (reset_clients, reset_rds_client):
            reset()  # clients made outside moto would not be mocked
            self._stack.callback(reset)
        self._stack.enter_context(mock_aws())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.collect_values()
        self._stack.close()

    def serve(self) -> str:
        """This world's Secrets Manager over HTTP, for other processes and threads: a moto
        server on loopback that shares the in-process backend; its URL. One server per process
        (a daemon thread, started on first use: stopping one takes half a second)."""
        if self._endpoint is None:
            import logging

            werkzeug = logging.getLogger("werkzeug")
            level = werkzeug.level
            werkzeug.setLevel(logging.ERROR)  # one line per request otherwise
            self._stack.callback(werkzeug.setLevel, level)
            self._endpoint = _shared_server()
        return self._endpoint

    # ------------------------------------------------------------------ secrets

    def unique_name(self, prefix: str) -> str:
        """A short unique name (for users and secrets)."""
        return f"{prefix}_{uuid.uuid4().hex[:8]}"

    def put_secret(self, name: str, value: Secret, *, rotation: bool = False) -> str:
        """Create a secret holding `value`; enable rotation if asked; return its ARN."""
        self.remember(value)
        client = SecretStore().client
        arn = str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
        if rotation:
            aws.enable_rotation(arn)
        return arn

    def new_secret(self) -> str:
        """A fresh account from the subject, as a secret with rotation enabled (with the pair's
        second user in AWSPREVIOUS when the subject has one)."""
        value, name = self.subject.make_secret(self), self.unique_name("kit/secret")
        if self.subject.second_user is None:
            return self.put_secret(name, value, rotation=True)
        arn = self.put_secret(name, self.subject.second_user(self, value))
        self.remember(value)
        SecretStore().client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
        aws.enable_rotation(arn)
        return arn

    def remember(self, value: Secret) -> None:
        """Record a secret's sensitive strings for the leak scan."""
        self.seen_values.add(json.dumps(value))
        for key, item in value.items():
            if isinstance(item, str) and key.lower() in {
                "password",
                "secret",
                "token",
                "api_key",
                "apikey",
                "secret_access_key",
            }:
                self.seen_values.add(item)

    def collect_values(self) -> None:
        """Record every value stored in moto (each version of each secret)."""
        for secret in aws.backend().secrets.values():
            for version in secret.versions.values():
                raw = version.get("secret_string")
                if raw:
                    self.seen_values.add(raw)
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(parsed, dict):
                        self.remember(parsed)

    def labels(self, arn: str) -> dict[str, list[str]]:
        """Version id -> labels (labelled versions only)."""
        return aws.labels(arn)

    def holder(self, arn: str, label: str) -> str | None:
        """The version holding `label`."""
        found = [v for v, labels in self.labels(arn).items() if label in labels]
        return found[0] if found else None

    def value(self, arn: str, *, label: str | None = None, version: str | None = None) -> Secret:
        """The value at a label or version, read straight from moto (no cache)."""
        secret = aws.backend().secrets[arn]
        version = version or self.holder(arn, label or "AWSCURRENT")
        if version is None:
            raise AssertionError(f"no version holds {label}")
        return dict(json.loads(secret.versions[version]["secret_string"]))

    def label_problems(self) -> list[str]:
        """AWS's label invariants that moto does not enforce."""
        return aws.label_problems()

    # ------------------------------------------------------------------ rotations

    def rotator(self) -> Rotator:
        """A fresh rotator from the subject."""
        return self.subject.build()

    def rotate(
        self, arn: str, rotator: Rotator | None = None, token: str | None = None
    ) -> RotationResult:
        """Run the four steps through a rotator's handler (a fresh one unless given)."""
        rotator = rotator or self.rotator()
        result = LocalDriver(rotator.handle).rotate(arn, token=token, rotation_token=ROTATION_TOKEN)
        if result.error is not None:
            self.errors.append(f"{type(result.error).__name__}: {result.error}")
        return result
