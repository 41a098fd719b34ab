"""What the workers of one run build once and share: a lock file decides which one builds."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest


@contextmanager
def once_per_run(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """(folder, build): a folder that every pytest-xdist worker of this run sees, and whether
    the caller must fill it now. The first worker to ask builds while it holds the lock; the
    others wait for it, then get build=False. A build that raised is tried again by the next
    worker (the folder is emptied first), so a failure is not hidden by a half-made folder."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder: each worker's basetemp is popen-gwN inside it
    folder = root / f"shared-{name}"
    done = root / f"shared-{name}.done"
    with (root / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            yield folder, False
            return
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        yield folder, True
        done.touch()


# The folders of the private servers this process started (their command lines name them): the
# check at the end of the run (tests/conftest.py) kills any process still running from one.
# PostgreSQL run by root lives outside the run's temporary folder, which its account cannot
# reach, so the folders are listed here rather than found under it.
SERVER_FOLDERS: list[str] = []


class _Server(Protocol):
    folder: Path


ServerT = TypeVar("ServerT", bound=_Server)


def started(server: ServerT) -> ServerT:
    """Record `server.folder` in SERVER_FOLDERS; `server` itself."""
    SERVER_FOLDERS.append(str(server.folder))
    return server
