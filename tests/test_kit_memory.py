"""The conformance kit on the in-memory rotator (every strategy) and the README's example."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from memory import MemoryRotator, MemoryTarget
from test_readme import example

from smrotate.store import Secret
from smrotate.testing.kit import ConformanceSuite, Subject
from smrotate.testing.kit.attacks import ADMIN_STRATEGIES
from smrotate.testing.kit.world import World


def memory_subject(strategy: str) -> Subject:
    target = MemoryTarget(passwords={"admin": "admin-password-1"}, admins={"admin"})

    def make_secret(world: World) -> Secret:
        user = world.unique_name("app")
        target.passwords[user] = secrets.token_urlsafe(16)
        secret: Secret = {"username": user, "password": target.passwords[user]}
        if strategy in ADMIN_STRATEGIES:
            secret["masterarn"] = world.put_secret(
                world.unique_name("admin"), {"username": "admin", "password": "admin-password-1"}
            )
        return secret

    def second_user(world: World, secret: Secret) -> Secret:
        user = world.unique_name("app_b")
        target.passwords[user] = secrets.token_urlsafe(16)
        return {**secret, "username": user, "password": target.passwords[user]}

    return Subject(
        name=f"memory {strategy}",
        rotator=lambda env: MemoryRotator(target, env=env),
        make_secret=make_secret,
        logs_in=lambda s: target.check(s["username"], s["password"]),
        strategy=strategy,
        second_user=second_user if strategy == "alternating-pair" else None,
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


class TestMemoryAlternatingPair(ConformanceSuite):
    @pytest.fixture
    def subject(self) -> Subject:
        return memory_subject("alternating-pair")


class TestMemoryDualPassword(ConformanceSuite):
    @pytest.fixture
    def subject(self) -> Subject:
        return memory_subject("dual-password")


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
