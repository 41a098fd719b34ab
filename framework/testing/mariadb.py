"""A private MariaDB server in a temporary folder: for the tests, the demo and the benchmarks.

`MariaDBServer.start(pki)` runs `mariadb-install-db` and `mariadbd --no-defaults` from the
binaries on the machine (SMROTATE_MARIADB_BINDIR, PATH, /usr/sbin, /usr/bin). It listens on
127.0.0.1 on a free port and a private socket, with TLS from `pki` (certificate for
`localhost`) and `skip-name-resolve`, so a TCP client from this machine matches host rows `%`
and `127.0.0.1`. The admin `smrotate_admin` (hosts `%` and `127.0.0.1`) holds every privilege
with grant option, PROXY included, and a random password. The general log (`log_text()`)
records every connection, refused login and statement. As root the server runs with
`--user=root`; as any other user it runs as that user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled
from smrotate.testing.tls import Pki

if TYPE_CHECKING:
    from pymysql.connections import Connection

BINDIR_ENV = "SMROTATE_MARIADB_BINDIR"
ADMIN_USER = "smrotate_admin"
HOST = "localhost"  # the name in the test server certificate
# The admin's host rows: 127.0.0.1 as well as %, so that no anonymous account a test makes for
# 127.0.0.1 is more specific than the admin's row.
ADMIN_HOSTS = ("%", "127.0.0.1")
INSTALL_HINT = (
    "install the MariaDB server (Debian/Ubuntu: apt-get install mariadb-server; Fedora/RHEL: "
    f"dnf install mariadb-server; macOS: brew install mariadb), or name the folder holding "
    f"mariadbd and mariadb-install-db in {BINDIR_ENV}"
)
_SEARCH = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/libexec", "/opt/homebrew/bin")
_SOCKET_MAX = 100  # Unix socket paths longer than about 107 bytes cannot be bound


class MariaDBSetupError(RuntimeError):
    """The private server could not be found, started or stopped; the message says why."""


def _find(names: Sequence[str]) -> Path | None:
    named = os.environ.get(BINDIR_ENV)
    folders = [named] if named else [*os.environ.get("PATH", "").split(os.pathsep), *_SEARCH]
    for folder in folders:
        for name in names:
            candidate = Path(folder or ".") / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    return None


def find_binaries() -> tuple[Path, Path]:
    """(mariadbd, mariadb-install-db); MariaDBSetupError naming what to install."""
    server = _find(["mariadbd", "mysqld"])
    install = _find(["mariadb-install-db", "mysql_install_db"])
    if server is None or install is None:
        raise MariaDBSetupError(f"no MariaDB server binaries found: {INSTALL_HINT}")
    return server, install


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _render(template: str, params: tuple[str, ...]) -> str:
    """A statement for a SQL file (no connection to send parameters): pymysql's quoting."""
    from pymysql.converters import escape_item

    return template % tuple(escape_item(p, "utf8mb4") for p in params)


@dataclass
class MariaDBServer:
    """A running private server; `stop()` ends it and removes the folder if `start` made it."""

    folder: Path
    port: int
    ca_file: Path
    admin_password: str = field(repr=False)
    socket: Path = field(default=Path())
    version: str = ""  # SELECT VERSION(), e.g. 10.11.6-MariaDB-0+deb12u1
    host: str = HOST
    admin_user: str = ADMIN_USER
    remove_folder: bool = True
    socket_folder: Path | None = field(default=None, repr=False)  # made when `folder` is deep
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, pki: Pki, *, folder: Path | None = None, timeout: float = 60.0) -> MariaDBServer:
        """Install a data folder and start a server in `folder` (default: a new temp folder)."""
        mariadbd, install_db = find_binaries()
        made = folder is None
        folder = Path(tempfile.mkdtemp(prefix="smrotate-mariadb-")) if folder is None else folder
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder, 0, pki.ca, secrets.token_urlsafe(24), remove_folder=made)
        try:
            server._install(install_db)
            server._start(mariadbd, pki, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def data(self) -> Path:
        """The server's data folder."""
        return self.folder / "data"

    @property
    def tmp(self) -> Path:
        """The server's own temporary folder: two servers bootstrapping at once in the shared
        /tmp can trip over each other's temporary tables (seen: 'Unknown table
        mysql.tmp_user_sys' from mariadb-install-db)."""
        return self.folder / "tmp"

    @property
    def log_file(self) -> Path:
        """The general log: every connection (and refused login) and every statement."""
        return self.folder / "general.log"

    @property
    def error_log_file(self) -> Path:
        """The server's error log (startup, shutdown, warnings)."""
        return self.folder / "server.log"

    def log_text(self) -> str:
        """Every connection and statement so far (the general log)."""
        return _read(self.log_file)

    def error_log_text(self) -> str:
        """The error log so far."""
        return _read(self.error_log_file)

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install(self, install_db: Path) -> None:
        setup = self.folder / "admin.sql"
        statements: list[tuple[str, tuple[str, ...]]] = [("FLUSH PRIVILEGES", ())]
        for host in ADMIN_HOSTS:  # bootstrap loads the grant tables at FLUSH PRIVILEGES
            account = (self.admin_user, host)
            statements += [
                ("CREATE USER %s@%s IDENTIFIED BY %s", (*account, self.admin_password)),
                ("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", account),
                # = GRANT PROXY ON ''@'%' ... WITH GRANT OPTION, which bootstrap refuses
                (
                    "INSERT INTO mysql.proxies_priv (Host, User, Proxied_host, Proxied_user, "
                    "With_grant) VALUES (%s, %s, '', '', 1)",
                    (host, self.admin_user),
                ),
            ]
        statements.append(("FLUSH PRIVILEGES", ()))
        self.tmp.mkdir(mode=0o700, exist_ok=True)
        setup.touch(mode=0o600)  # holds the admin's password until the install is done
        try:
            setup.write_text("".join(f"{_render(text, params)};\n" for text, params in statements))
            done = subprocess.run(
                [
                    str(install_db), "--no-defaults", f"--datadir={self.data}",
                    "--auth-root-authentication-method=socket", "--skip-test-db",
                    "--skip-name-resolve", f"--extra-file={setup}", f"--tmpdir={self.tmp}",
                    *self._user_args(),
                ],
                capture_output=True, text=True, timeout=scaled(120), check=False, cwd=self.folder,
            )  # fmt: skip
        finally:
            setup.unlink()
        if done.returncode != 0:
            raise MariaDBSetupError(
                f"{install_db.name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
            )

    def _start(self, mariadbd: Path, pki: Pki, timeout: float, attempts: int = 3) -> None:
        self.socket = self.folder / "mariadbd.sock"
        if len(str(self.socket)) > _SOCKET_MAX:
            self.socket_folder = Path(tempfile.mkdtemp(prefix="smr-"))
            self.socket = self.socket_folder / "mariadbd.sock"
        for attempt in range(attempts):
            self.port = free_port()
            self.error_log_file.unlink(missing_ok=True)
            self.process = subprocess.Popen(
                [
                    str(mariadbd), "--no-defaults", f"--datadir={self.data}",
                    f"--socket={self.socket}", f"--port={self.port}",
                    "--bind-address=127.0.0.1", "--skip-name-resolve",
                    f"--pid-file={self.folder / 'mariadbd.pid'}", f"--tmpdir={self.tmp}",
                    f"--log-error={self.error_log_file}",
                    "--general-log", f"--general-log-file={self.log_file}",
                    f"--ssl-ca={pki.ca.resolve()}", f"--ssl-cert={pki.server_cert.resolve()}",
                    f"--ssl-key={pki.server_key.resolve()}", "--innodb-buffer-pool-size=32M",
                    "--max-connections=200", "--max-connect-errors=1000000",
                    *self._user_args(),
                ],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder,
            )  # fmt: skip
            if self._wait_ready(timeout):
                self.version = str(self.execute("SELECT VERSION()")[0][0])
                return
            in_use = "Address already in use" in self.error_log_text()
            self._terminate()
            if not in_use or attempt == attempts - 1:
                raise MariaDBSetupError(
                    f"MariaDB did not start; its log says:\n{self.error_log_text()[-2000:]}"
                )

    def _wait_ready(self, timeout: float) -> bool:
        """Poll until the admin logs in over TLS; False when the server exits or times out."""
        import pymysql

        deadline = time.monotonic() + scaled(timeout)
        delay = 0.02
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with self.connect():
                    return True
            except pymysql.MySQLError:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
        return False

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Shut the server down and remove the folder if `start` made it."""
        self._terminate()
        if self.socket_folder is not None:
            shutil.rmtree(self.socket_folder, ignore_errors=True)
        if self.remove_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- secrets

    def secret(self, username: str, password: str, **extra: Any) -> dict[str, Any]:
        """A secret value for a user of this server (verified TLS with the test CA)."""
        return {
            "engine": "mariadb",
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
            "sslrootcert": str(self.ca_file),
            **extra,
        }

    def admin_secret(self) -> dict[str, Any]:
        """The admin's secret value."""
        return self.secret(self.admin_user, self.admin_password)

    # ---------------------------------------------------------------- SQL helpers

    @contextmanager
    def connect(
        self, user: str | None = None, password: str | None = None, *, tls: bool = True
    ) -> Iterator[Connection[Any]]:
        """An autocommit TCP session (the admin by default); verified TLS unless `tls=False`."""
        import ssl

        import pymysql

        options: dict[str, Any] = {"ssl_disabled": True}
        if tls:
            options = {"ssl": ssl.create_default_context(cafile=str(self.ca_file))}
        conn = pymysql.connect(
            host=self.host,
            port=self.port,
            user=user or self.admin_user,
            password=((password if user else self.admin_password) or "").encode(),
            connect_timeout=5,
            autocommit=True,
            charset="utf8mb4",
            **options,
        )
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement as the admin (values as `%s` parameters); its rows."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(statement, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []

    def create_user(self, name: str, password: str, hosts: Sequence[str] = ("%",)) -> None:
        """CREATE USER name@host IDENTIFIED BY password, for each host."""
        for host in hosts:
            self.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))

    def drop_user(self, name: str) -> None:
        """Drop every host row of `name` (nothing when it does not exist)."""
        for (host,) in self.execute("SELECT Host FROM mysql.user WHERE User = %s", (name,)):
            self.execute("DROP USER %s@%s", (name, host))

    def set_password(self, name: str, password: str, host: str = "%") -> None:
        """SET PASSWORD FOR name@host."""
        self.execute("SET PASSWORD FOR %s@%s = PASSWORD(%s)", (name, host, password))

    def logs_in(self, user: str, password: str, *, tls: bool = True) -> bool:
        """True when `user` logs in with `password`; False when refused (error 1045)."""
        import pymysql

        try:
            with self.connect(user, password, tls=tls):
                return True
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                return False
            raise
