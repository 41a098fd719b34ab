"""Helpers for the PostgreSQL tests: the rotator with a given environment, values by label,
and the server log lines a test caused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.testing.postgres import PostgresServer


def rotator(**env: str) -> PostgreSQLRotator:
    """A rotator whose configuration is exactly `env` (never the developer's environment)."""
    return PostgreSQLRotator(env=env)


class LogWindow:
    """The server log lines written while a `with log_window(pg)` block ran."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.start = len(server.log_text())
        self.text = ""

    def lines(self, needle: str) -> list[str]:
        """The lines of the window that contain `needle`."""
        return [line for line in self.text.splitlines() if needle in line]


@contextmanager
def log_window(server: PostgresServer) -> Iterator[LogWindow]:
    window = LogWindow(server)
    yield window
    window.text = server.log_text()[window.start :]


def alter_role_lines(window: LogWindow, role: str) -> list[str]:
    """Logged statements that set `role`'s password."""
    quoted = '"' + role.replace('"', '""') + '"'
    return window.lines(f"statement: ALTER ROLE {quoted} PASSWORD")
