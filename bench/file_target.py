"""A credential target kept in a JSON file, so that separate processes see the same passwords.

Used by the benchmarks to run each rotation step in a fresh process, as a cold Lambda would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smrotate.errors import LoginRefusedError
from smrotate.store import Secret
from smrotate.strategies import PasswordRotator


class FileRotator(PasswordRotator[str]):
    """Users and passwords in the file named by $SMROTATE_BENCH_TARGET."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = Path(os.environ["SMROTATE_BENCH_TARGET"])

    def _users(self) -> dict[str, str]:
        return dict(json.loads(self.path.read_text()))

    @contextmanager
    def login(self, secret: Secret) -> Iterator[str]:
        if self._users().get(secret["username"]) != secret["password"]:
            raise LoginRefusedError(f"user {secret['username']!r} refused")
        yield str(secret["username"])

    def change_own_password(self, session: str, secret: Secret, password: str) -> None:
        users = self._users()
        users[session] = password
        self.path.write_text(json.dumps(users))


lambda_handler = FileRotator.handler()
