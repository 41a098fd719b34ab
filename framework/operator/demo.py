"""`smrotate demo [--engine postgresql|redis]`: rotate real passwords on this machine, step by step.

It starts a private server of the engine (PostgreSQL by default: demo_postgresql.py; Redis:
demo_redis.py) and moto server on loopback as Secrets Manager, creates users and their secrets,
then rotates them with the real handler through the local driver, as the engine's plan says.
After each step it prints the staging labels; after each rotation, the proof of which passwords
log in. Passwords appear only as fingerprints (`#` and the first 8 hex digits of their SHA-256).
Everything it started is stopped and removed at the end, whatever failed.

This module is what the engines share: the moto server, the secrets' labels, the rotations and
their proofs, the output. An engine (a `DemoEngine`) supplies its server, its users, secrets
and plan, how it checks a login, and its own extra proofs. The demo is not idempotent and need
not be: each run starts from nothing, in new temporary folders, on new ports.

Usage: python -m smrotate.operator.demo [--engine ENGINE]   (or `smrotate demo`, `make demo`)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smrotate import redaction

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from smrotate.events import Step

# --engine NAME: the module:class of its demo. One line per engine; the first is the default.
ENGINES = {
    "postgresql": "smrotate.operator.demo_postgresql:PostgresDemo",
    "redis": "smrotate.operator.demo_redis:RedisDemo",
}
STEP_NOTES = {
    "createSecret": "stored a new value as AWSPENDING",
    "setSecret": "the server now accepts the AWSPENDING password",
    "testSecret": "logged in with AWSPENDING",
    "finishSecret": "moved AWSCURRENT to the new version",
}
Value = dict[str, Any]


class DemoSetupError(RuntimeError):
    """The demo cannot run here (something to install); the message says what to do."""


def say(text: str = "") -> None:
    """Print one line of the demo's output, scrubbed of every registered secret value."""
    print(redaction.scrub(text), flush=True)


def fingerprint(password: str) -> str:
    """`#` and the first 8 hex digits of SHA-256: tells passwords apart, reveals nothing."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()[:8]


def who(value: Value) -> str:
    """`user #fingerprint`, the way the proofs name a credential."""
    return f"{value['username']} {fingerprint(value['password'])}"


class Demo:
    """One secret being rotated: its values, its labels, and its rotations."""

    def __init__(self, sm: SecretsManagerClient, arn: str) -> None:
        self.sm, self.arn = sm, arn
        self.shown: list[str] = []

    def read(self, **where: str) -> Value | None:
        """The value of a version (VersionId=...) or label (VersionStage=...); None if none."""
        try:
            response = self.sm.get_secret_value(SecretId=self.arn, **where)
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return dict(json.loads(response["SecretString"]))

    def values(self) -> list[Value]:
        """The value of every version of the secret, labelled or not."""
        versions = self.sm.list_secret_version_ids(SecretId=self.arn)["Versions"]
        return [v for v in (self.read(VersionId=item["VersionId"]) for item in versions) if v]

    def labels(self) -> list[str]:
        """One line per labelled version: labels, version id, user and password fingerprint."""
        from smrotate.labels import in_label_order, label_rank

        stages = self.sm.describe_secret(SecretId=self.arn)["VersionIdsToStages"]
        lines = []
        for version, names in sorted(
            stages.items(), key=lambda item: ([*map(label_rank, in_label_order(item[1]))], item[0])
        ):
            if not names:
                continue  # versions without labels are history, not state
            value = self.read(VersionId=version)
            user = f"{value['username']:<10} {fingerprint(value['password'])}" if value else "-"
            lines.append(f"{'+'.join(in_label_order(names)):<12} {version[:8]}  {user}")
        return lines

    def on_step(self, step: Step, error: BaseException | None) -> None:
        """The local driver's observer: the step's outcome, and the labels when they moved."""
        if error is not None:
            say(f"  {step.value:<13} FAILED: {type(error).__name__}: {error}")
            return
        say(f"  {step.value:<13} ok: {STEP_NOTES[step.value]}")
        labels = self.labels()
        if labels != self.shown:
            for line in labels:
                say(f"                  {line}")
            self.shown = labels

    def rotate(self, handler: Callable[..., Any], title: str) -> bool:
        """One rotation through the local driver, step by step."""
        from smrotate.operator.driver import LocalDriver
        from smrotate.store import SecretStore

        say(f"\n== {title} ==")
        started = time.perf_counter()
        result = LocalDriver(handler, SecretStore(self.sm)).rotate(self.arn, on_step=self.on_step)
        elapsed = time.perf_counter() - started
        say(f"  rotation {'done' if result.ok else 'FAILED'} in {elapsed:.2f} s")
        return result.ok


@dataclass(frozen=True)
class Rotation:
    """One rotation of an engine's plan: the secret, the strategy, and what its proof expects.

    `keeps_previous`: AWSPREVIOUS still logs in afterwards, until the next rotation (alternating
    users, dual passwords), and the one before it no longer does; else AWSPREVIOUS is refused."""

    demo: Demo
    strategy: str
    how: str
    keeps_previous: bool = False


@dataclass
class Proofs:
    """What the proofs found: False once any login went otherwise than expected."""

    engine: DemoEngine
    ok: bool = True

    def login(self, what: str, value: Value | None, expect: bool, note: str = "") -> None:
        """Log in with `value`; say whether the server accepts it, and whether that was expected."""
        if value is None:
            return
        works = self.engine.logs_in(value["username"], value["password"])
        verdict = "yes" if works else f"no, {self.engine.refusal}"
        say(f"    {what:<16} {who(value):<20} logs in: {verdict}{note}")
        if works != expect:
            say(f"    UNEXPECTED: that login should {'work' if expect else 'fail'}")
            self.ok = False

    def check(self, ok: bool) -> None:
        """Record an engine's own proof (it said what it found)."""
        self.ok &= ok


class DemoEngine(ABC):
    """What one engine's demo supplies; `run_demo` does the rest (see the module docstring)."""

    rotator: ClassVar[str]  # its name for `smrotate run --rotator` (smrotate.operator.loading)
    refusal: ClassVar[str]  # how the proof words a refused login
    servers: ClassVar[str]  # what the cleanup line says it stops
    # (module, what to do when it is missing): checked before anything starts
    needs: ClassVar[tuple[tuple[str, str], ...]] = ()

    @abstractmethod
    def start(self, stack: ExitStack, workdir: Path) -> None:
        """Start the private server, stopped when `stack` closes; say how it runs."""

    @abstractmethod
    def create(self, sm: SecretsManagerClient) -> list[Rotation]:
        """The users and their secrets (rotation on), said in setup lines; the plan."""

    @abstractmethod
    def logs_in(self, username: str, password: str) -> bool:
        """True when the server accepts this login, False when it refuses it."""

    def after(self, rotation: Rotation, current: Value, previous: Value | None) -> bool:
        """Engine-specific proof lines after a rotation's logins; True when as expected."""
        return True

    def finish(self, demos: list[Demo]) -> bool:
        """Engine-specific proof lines after the last rotation; True when as expected."""
        return True


def engine_class(name: str) -> type[DemoEngine]:
    """The DemoEngine subclass of ENGINES[name], imported only now."""
    module_name, _, class_name = ENGINES[name].partition(":")
    cls: type[DemoEngine] = getattr(importlib.import_module(module_name), class_name)
    return cls


# Every engine's: moto server plays Secrets Manager (imported only once the servers start).
NEEDS_MOTO = (
    "moto.server",
    "needs moto's server, which the demo extra installs: pip install 'smrotate[demo]'",
)


def check_needs(engine: type[DemoEngine]) -> None:
    """DemoSetupError saying what to install when a module the engine needs is missing (moto's
    server included), before anything starts."""
    for module, hint in (NEEDS_MOTO, *engine.needs):
        try:
            importlib.import_module(module)
        except ImportError:
            raise DemoSetupError(hint) from None


def start_moto(stack: ExitStack) -> str:
    """moto server on loopback as Secrets Manager, stopped when `stack` closes; its URL."""
    from smrotate.testing.aws import serve_moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    endpoint = serve_moto(stack)
    say(f"[setup] moto server (Secrets Manager) on {endpoint}")
    return endpoint


def prove(proofs: Proofs, rotation: Rotation, before: Value | None) -> Value | None:
    """The logins after a rotation: AWSCURRENT works; AWSPREVIOUS as the plan says, and the
    one it replaced no longer. AWSCURRENT's value (None if it cannot be read)."""
    demo = rotation.demo
    say("  proof:")
    current = demo.read(VersionStage="AWSCURRENT")
    proofs.login("AWSCURRENT", current, expect=True)
    kept = rotation.keeps_previous
    note = "  (until the next rotation)" if kept else "  (the old password)"
    previous = demo.read(VersionStage="AWSPREVIOUS")
    proofs.login("AWSPREVIOUS", previous, expect=kept, note=note)
    if kept:
        proofs.login("was AWSPREVIOUS", before, expect=False)
    return current


def run_demo(engine: DemoEngine) -> bool:
    """The whole demo of `engine`; True when every rotation and every proof went as expected."""
    import boto3

    from smrotate.observability import logger
    from smrotate.operator.loading import rotator_class
    from smrotate.testing.aws import REGION, fake_aws_environment

    rotator = rotator_class(engine.rotator)  # by name: the framework never imports rotators
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="smrotate-demo-"))
        stack.callback(shutil.rmtree, workdir, True)
        engine.start(stack, workdir)
        endpoint = start_moto(stack)
        stack.enter_context(fake_aws_environment(SECRETS_MANAGER_ENDPOINT=endpoint))
        stack.callback(logger.setLevel, logger.log_level)
        logger.setLevel(logging.WARNING)  # the demo tells its own story; failures still log
        sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        plan = engine.create(sm)
        proofs = Proofs(engine)
        for number, rotation in enumerate(plan, start=1):
            before = rotation.demo.read(VersionStage="AWSPREVIOUS")
            env = {**os.environ, "ROTATION_STRATEGY": rotation.strategy}
            title = f"rotation {number}: {rotation.strategy} ({rotation.how})"
            proofs.check(rotation.demo.rotate(rotator.handler(env=env), title))
            current = prove(proofs, rotation, before)
            if current is not None:
                previous = rotation.demo.read(VersionStage="AWSPREVIOUS")
                proofs.check(engine.after(rotation, current, previous))
        demos = list({id(rotation.demo): rotation.demo for rotation in plan}.values())
        proofs.check(engine.finish(demos))
        say(
            f"\n[cleanup] stopping moto server and {engine.servers}, removing the temporary folders"
        )
    return proofs.ok


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when it proved every rotation, 1 otherwise (2: bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="smrotate demo",
        description="Rotate real passwords of a private database server on this machine, with "
        "moto as Secrets Manager, and show each step's labels and the proof.",
    )
    parser.add_argument(
        "--engine",
        choices=list(ENGINES),
        default=next(iter(ENGINES)),
        help=f"the server whose passwords are rotated (default {next(iter(ENGINES))})",
    )
    args = parser.parse_args(argv)
    try:
        engine = engine_class(args.engine)
        check_needs(engine)
    except DemoSetupError as exc:
        say(f"smrotate demo --engine {args.engine}: {exc}")
        return 1
    say("smrotate demo: real password rotations on this machine (moto stands in for AWS)\n")
    started = time.perf_counter()
    try:
        ok = run_demo(engine())
    except Exception as exc:  # a setup failure: say what failed, never a secret value
        say(f"\ndemo failed: {type(exc).__name__}: {exc}")
        return 1
    say(f"\n{'demo finished' if ok else 'demo FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
