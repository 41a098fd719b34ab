"""The suite's private MariaDB: what it says when the binaries are missing, and how it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from smrotate.testing.mariadb import BINDIR_ENV, MariaDBServer, MariaDBSetupError, find_binaries


def test_missing_binaries_name_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path))
    with pytest.raises(MariaDBSetupError, match=r"apt-get install mariadb-server"):
        find_binaries()


@pytest.mark.mariadb
def test_the_server_takes_passwords_over_verified_tls_only_for_the_admin(
    mariadb: MariaDBServer,
) -> None:
    [(cipher,)] = [row[1:] for row in mariadb.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")]
    assert cipher.startswith("TLS_")
    assert mariadb.execute("SELECT @@skip_name_resolve, @@bind_address") == [(1, "127.0.0.1")]
    assert not mariadb.logs_in(mariadb.admin_user, "Pw1!not-the-admin-password")
    assert "SELECT @@skip_name_resolve" in mariadb.log_text()  # the general log is on
