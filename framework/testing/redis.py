"""A private Redis server in a temporary folder: for the tests (and a Redis rotator's tests).

`RedisServer.start(pki)` runs `redis-server` from the machine (SMROTATE_REDIS_SERVER, PATH,
/usr/bin, /usr/sbin, /usr/local/bin; Debian's package is `redis-server`, and its build has TLS).
It listens on 127.0.0.1 over TLS only (`--port 0`, a free `--tls-port`), with the certificate
for `localhost` from `pki`, and no client certificates asked for. Its ACL file turns the
`default` user off, so nothing runs without a login, and holds the admin `smrotate_admin` with a
random password and every right. Passwords reach the server only as `#<sha256>` hashes
(`create_user`, `set_password`); nothing is saved to disk (`--save ''`, `--appendonly no`).
The server log is `log_text()`; `acl_log()` lists the refused logins the server recorded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled
from smrotate.testing.tls import Pki

if TYPE_CHECKING:
    import redis

BINARY_ENV = "SMROTATE_REDIS_SERVER"
ADMIN_USER = "smrotate_admin"
HOST = "localhost"  # the name in the test server certificate
INSTALL_HINT = (
    "install the Redis server, built with TLS (Debian/Ubuntu: apt-get install redis-server; "
    "Fedora/RHEL: dnf install redis; macOS: brew install redis), or name the redis-server "
    f"binary in {BINARY_ENV}"
)
_SEARCH = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/opt/homebrew/bin")
DEFAULT_RULES = "~* &* +@all"


class RedisSetupError(RuntimeError):
    """The private server could not be found, started or stopped; the message says why."""


def find_binary() -> Path:
    """The redis-server binary; RedisSetupError naming what to install."""
    named = os.environ.get(BINARY_ENV)
    if named:
        if not (Path(named).is_file() and os.access(named, os.X_OK)):
            raise RedisSetupError(f"{BINARY_ENV}={named} is not an executable file")
        return Path(named)
    found = shutil.which("redis-server")
    candidates = [found] if found else []
    candidates += [str(Path(folder) / "redis-server") for folder in _SEARCH]
    for candidate in candidates:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise RedisSetupError(f"no redis-server found: {INSTALL_HINT}")


def password_hash(password: str) -> str:
    """The ACL form of `password`: `#` and the hex SHA-256 of its UTF-8 bytes."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _rules(rules: str) -> list[str]:
    """ACL rules as arguments; ValueError for rules that would set a password (`>`, `<`, `#`,
    `!`, nopass): passwords go through `create_user` and `set_password` only, as hashes."""
    parts = rules.split()
    setting = [part for part in parts if part[:1] in {">", "<", "#", "!"} or part == "nopass"]
    if setting:
        raise ValueError("ACL rules must not set passwords; pass the password on its own")
    return parts


def _resp(*args: str) -> bytes:
    """One command in RESP, as clients send it."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(parts)


@functools.lru_cache(maxsize=4)
def _client_context(ca_file: str) -> ssl.SSLContext:
    """A client context that trusts `ca_file` only and checks host names."""
    return ssl.create_default_context(cafile=ca_file)


@dataclass
class RedisServer:
    """A running private server; `stop()` ends it and removes the folder if `start` made it."""

    folder: Path
    port: int
    ca_file: Path
    admin_password: str = field(repr=False)
    version: str = ""  # INFO server's redis_version, e.g. 7.0.15
    host: str = HOST
    admin_user: str = ADMIN_USER
    remove_folder: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def start(cls, pki: Pki, *, folder: Path | None = None, timeout: float = 30.0) -> RedisServer:
        """Start a server in `folder` (default: a new temporary folder) on a free TLS port."""
        binary = find_binary()
        made = folder is None
        folder = Path(tempfile.mkdtemp(prefix="smrotate-redis-")) if folder is None else folder
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder, 0, pki.ca, secrets.token_urlsafe(24), remove_folder=made)
        try:
            server._write_acl()
            server._start(binary, pki, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def acl_file(self) -> Path:
        """The ACL file the server loads at start: `default` off, the admin's hash."""
        return self.folder / "users.acl"

    @property
    def log_file(self) -> Path:
        """The server log (start, shutdown, warnings)."""
        return self.folder / "server.log"

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return _read(self.log_file)

    def _write_acl(self) -> None:
        self.acl_file.touch(mode=0o600)
        self.acl_file.write_text(
            "user default off resetkeys resetchannels -@all\n"
            f"user {self.admin_user} on {password_hash(self.admin_password)} {DEFAULT_RULES}\n"
        )

    def _start(self, binary: Path, pki: Pki, timeout: float, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.port = free_port()
            self.log_file.unlink(missing_ok=True)
            self.process = subprocess.Popen(
                [
                    str(binary), "--bind", "127.0.0.1", "--port", "0",
                    "--tls-port", str(self.port),
                    "--tls-cert-file", str(pki.server_cert.resolve()),
                    "--tls-key-file", str(pki.server_key.resolve()),
                    "--tls-ca-cert-file", str(pki.ca.resolve()),
                    "--tls-auth-clients", "no",
                    "--dir", str(self.folder), "--aclfile", str(self.acl_file),
                    "--logfile", str(self.log_file), "--daemonize", "no",
                    "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                ],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder,
            )  # fmt: skip
            if self._wait_ready(timeout):
                info: dict[str, Any] = self.execute("INFO", "server")
                self.version = str(info["redis_version"])
                return
            in_use = "Address already in use" in self.log_text()
            self._terminate()
            if not in_use or attempt == attempts - 1:
                raise RedisSetupError(
                    f"redis-server did not start; its log says:\n{self.log_text()[-2000:]}"
                )

    def _wait_ready(self, timeout: float) -> bool:
        """Poll until the admin's PING answers over TLS; False when the server exits or the
        wait times out."""
        import redis

        deadline = time.monotonic() + scaled(timeout)
        delay = 0.01
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with self.connect() as client:
                    client.ping()
                    return True
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
        return False

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Shut the server down (its process is gone when this returns) and remove the folder
        if `start` made it."""
        try:
            self._terminate()
        finally:
            if self.remove_folder:
                shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- secrets

    def secret(self, username: str, password: str, **extra: Any) -> dict[str, Any]:
        """A secret value for a user of this server (verified TLS with the test CA)."""
        return {
            "engine": "redis",
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
            "ssl": True,
            "sslrootcert": str(self.ca_file),
            **extra,
        }

    def admin_secret(self) -> dict[str, Any]:
        """The admin's secret value."""
        return self.secret(self.admin_user, self.admin_password)

    # ---------------------------------------------------------------- helpers

    @contextmanager
    def connect(
        self, user: str | None = None, password: str | None = None
    ) -> Iterator[redis.Redis]:
        """A client on one connection (the admin by default) over verified TLS, which redis-py
        never retries: a refused login raises AuthenticationError at the first command."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host=self.host,
            port=self.port,
            username=user or self.admin_user,
            password=(password if user else self.admin_password) or "",
            ssl=True,
            ssl_ca_certs=str(self.ca_file),
            ssl_check_hostname=True,
            ssl_cert_reqs="required",
            socket_timeout=5,
            socket_connect_timeout=5,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
            decode_responses=True,
        )
        try:
            yield client
        finally:
            client.close()

    def execute(self, *args: str) -> Any:
        """Run one command as the admin; its reply (strings decoded)."""
        with self.connect() as client:
            return client.execute_command(*args)  # type: ignore[no-untyped-call]

    def create_user(self, name: str, password: str, rules: str = DEFAULT_RULES) -> None:
        """ACL SETUSER name reset on #<hash> rules: a fresh user whose only password is
        `password`. `rules` are ACL rules without passwords (`~* +@all` by default)."""
        self.execute("ACL", "SETUSER", name, "reset", "on", password_hash(password), *_rules(rules))

    def set_password(self, name: str, password: str) -> None:
        """Make `password` the user's only password (ACL SETUSER name resetpass #<hash>)."""
        self.execute("ACL", "SETUSER", name, "resetpass", password_hash(password))

    def drop_user(self, *names: str) -> None:
        """ACL DELUSER (users that do not exist are skipped by the server)."""
        if names:
            self.execute("ACL", "DELUSER", *names)

    def users(self) -> list[str]:
        """ACL USERS: every user name, `default` and the admin included."""
        return [str(name) for name in self.execute("ACL", "USERS")]

    def logs_in(self, user: str, password: str) -> bool:
        """True when `user` logs in with `password` as that user (ACL WHOAMI); False when the
        server refuses the login."""
        import redis

        try:
            with self.connect(user, password) as client:
                whoami = client.execute_command("ACL", "WHOAMI")  # type: ignore[no-untyped-call]
        except redis.AuthenticationError:
            return False
        return bool(whoami == user)

    def accepts(self, user: str, password: str) -> bool:
        """`logs_in` without redis-py: AUTH and ACL WHOAMI written as RESP on a TLS socket that
        trusts the test CA only. An oracle that shares no code with a rotator built on redis-py,
        and a fast one (redis-py loads the system CA store again for each connection). A user
        whose ACL refuses ACL WHOAMI counts as logged in once AUTH succeeds."""
        context = _client_context(str(self.ca_file))
        with (
            socket.create_connection((self.host, self.port), timeout=scaled(5)) as raw,
            context.wrap_socket(raw, server_hostname=self.host) as tls,
            tls.makefile("rb") as replies,
        ):
            tls.sendall(_resp("AUTH", user, password) + _resp("ACL", "WHOAMI"))
            auth, whoami = replies.readline(), replies.readline()
            if auth.startswith(b"-WRONGPASS"):
                return False
            if not auth.startswith(b"+OK"):
                raise RedisSetupError(f"AUTH was answered {auth[:60]!r}")
            if whoami.startswith(b"$"):
                return replies.readline()[:-2] == user.encode()
            return whoami.startswith(b"-NOPERM")

    def acl_log(self, user: str | None = None) -> list[dict[str, Any]]:
        """ACL LOG entries (newest first), of `user` only when given. A refused login is an
        entry with reason `auth`; repeats within a minute add to its `count`."""
        with self.connect() as client:
            reply: list[dict[str, Any]] = client.acl_log()  # type: ignore[assignment]
        entries = [dict(entry) for entry in reply]
        return [e for e in entries if user is None or e.get("username") == user]

    def refused_logins(self, user: str) -> int:
        """How many logins of `user` the server refused, as its ACL log counts them."""
        return sum(int(e.get("count", 1)) for e in self.acl_log(user) if e.get("reason") == "auth")

    def reset_acl_log(self) -> None:
        """ACL LOG RESET."""
        with self.connect() as client:
            client.acl_log_reset()
