"""The conformance kit on the in-memory rotator (three strategies) and the README's example."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from memory import MemoryRotator, MemoryTarget
from test_readme import example

from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.world import World


def memory_subject(strategy: str) -> Subject:
    target = MemoryTarget(passwords={"admin": "admin-password-1"}, admins={"admin"})

    def make_secret(world: World) -> Secret:
        user = world.unique_name("app")
        target.passwords[user] = secrets.token_urlsafe(16)
        secret: Secret = {"username": user, "password": target.passwords[user]}
        if strategy != "single-user":
            secret["masterarn"] = world.put_secret(
                world.unique_name("admin"), {"username": "admin", "password": "admin-password-1"}
            )
        return secret

    return Subject(
        name=f"memory {strategy}",
        rotator=lambda env: MemoryRotator(target, env=env),
        make_secret=make_secret,
        logs_in=lambda s: target.check(s["username"], s["password"]),
        strategy=strategy,
    )


class TestMemorySingleUser(ConformanceSuite):
    @pytest.fixture
    def subject(self) -> Subject:
        return memory_subject("single-user")


class TestMemoryViaAdmin(ConformanceSuite):
    @pytest.fixture
    def subject(self) -> Subject:
        return memory_subject("single-user-via-admin")


class TestMemoryAlternating(ConformanceSuite):
    @pytest.fixture
    def subject(self) -> Subject:
        return memory_subject("alternating-users")


class TestReadmeExample(ConformanceSuite):
    """The README's custom rotator, exactly as written there."""

    @pytest.fixture
    def subject(self) -> Subject:
        namespace: dict[str, Any] = {}
        exec(compile(example("custom-rotator"), "README.md", "exec"), namespace)  # noqa: S102
        service = namespace["TokenService"]({})

        def make_secret(world: World) -> Secret:
            user = world.unique_name("app")
            service.tokens[user] = secrets.token_urlsafe(16)
            return {"username": user, "password": service.tokens[user]}

        return Subject(
            name="README TokenRotator",
            rotator=lambda env: namespace["TokenRotator"](service, env=env),
            make_secret=make_secret,
            logs_in=lambda s: service.tokens.get(s["username"]) == s["password"],
        )
