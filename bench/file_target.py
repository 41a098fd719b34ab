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

from smrotate.accounts import Account
from smrotate.errors import LoginRefusedError
from smrotate.password_rotator import PasswordRotator


class FileRotator(PasswordRotator[Account, str]):
    """Users and passwords in the file named by $SMROTATE_BENCH_TARGET."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = Path(os.environ["SMROTATE_BENCH_TARGET"])

    def _users(self) -> dict[str, str]:
        return dict(json.loads(self.path.read_text()))

    @contextmanager
    def login(self, account: Account) -> Iterator[str]:
        if self._users().get(account.username) != account.password:
            raise LoginRefusedError(f"user {account.username!r} refused")
        yield account.username

    def set_own_password(self, session: str, account: Account, password: str) -> None:
        users = self._users()
        users[session] = password
        self.path.write_text(json.dumps(users))


lambda_handler = FileRotator.handler()
