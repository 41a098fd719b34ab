"""What the SQL rotators share, composed in rather than inherited: the `Database` schema
(which secret fields mean what, TLS, the engine's user-name limit, RDS-managed admin secrets),
the `DatabaseAccount` it parses, and the wording of connection and SQL errors.

A SQL rotator is a `PasswordRotator` whose `schema` is a `Database`; its hooks take
`DatabaseAccount`s and use the helpers here (`target_error`, `classify_failure`).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smrotate import redaction
from smrotate.accounts import USERNAME_LIMIT_ENV, Account, credentials, username_limit
from smrotate.errors import Failure, LoginRefusedError, SecretFormatError, TargetError
from smrotate.settings import env_float
from smrotate.store import Secret, SecretDescription

CA_BUNDLE_ENV = "DATABASE_CA_BUNDLE"
CONNECT_TIMEOUT_ENV = "DB_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 5.0
# Where distributions keep the system CA bundle, when Python's ssl module does not say.
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu
    "/etc/pki/tls/certs/ca-bundle.crt",  # Amazon Linux (Lambda), RHEL
    "/etc/ssl/cert.pem",  # Alpine, macOS
)
RDS_INSTANCE_TAG = "aws:rds:primarydbinstancearn"
RDS_CLUSTER_TAG = "aws:rds:primarydbclusterarn"


def system_ca_bundle() -> str:
    """The path of the system's CA bundle; SecretFormatError-free, raises TargetError if none."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *_SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise TargetError(
        f"no system CA bundle found; name one with 'sslrootcert' in the secret or {CA_BUNDLE_ENV}",
        Failure.TLS,
    )


@dataclass(frozen=True)
class Tls:
    """TLS for one connection: off only when the secret says `"ssl": false`; else verified."""

    enabled: bool
    ca_file: str | None = None  # None: the system bundle

    def ca_path(self) -> str:
        """The CA bundle to verify the server against."""
        return self.ca_file or system_ca_bundle()

    def context(self) -> ssl.SSLContext:
        """For drivers that take an SSLContext: the chain verified against `ca_path()`, the
        host name checked, TLS 1.2 or later. One context per bundle file and version of it, made
        once per process (reading a bundle costs about a millisecond per connection); a bundle
        that changes on disk gets a new one. TargetError (TLS) when the bundle cannot be read."""
        path = self.ca_path()
        try:
            found = os.stat(path)
            return _verified_context(path, found.st_mtime_ns, found.st_size)
        except (OSError, ssl.SSLError) as exc:
            raise TargetError(
                f"cannot read the CA bundle {path} ({type(exc).__name__}: {exc.strerror or exc}); "
                f"name a PEM file with 'sslrootcert' in the secret or {CA_BUNDLE_ENV}",
                Failure.TLS,
            ) from None


@functools.lru_cache(maxsize=8)
def _verified_context(path: str, mtime_ns: int, size: int) -> ssl.SSLContext:
    """A client context that verifies against the bundle at `path` (as of `mtime_ns`, `size`)."""
    context = ssl.create_default_context(cafile=path)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True, kw_only=True)
class DatabaseAccount(Account):
    """A database account: the credentials plus where and how to log in."""

    engine: str
    host: str
    port: int
    dbname: str | None
    tls: Tls
    connect_timeout: float

    @property
    def target(self) -> tuple[object, ...]:
        """(host, port) normalised: lower case, no trailing dot, no IPv6 brackets."""
        return self.host.strip().strip("[]").rstrip(".").lower(), self.port

    @property
    def tls_required(self) -> bool:
        return self.tls.enabled

    def describe(self) -> str:
        """`user 'x' at host:port` for messages: never the password, never a connection string."""
        return f"user {self.username!r} at {self.host}:{self.port}"

    def same_target(self, admin: Account) -> bool:
        """The same endpoint, and this account's login was verified TLS whenever the admin's
        is (a plaintext login could be answered by anyone on the path)."""
        return self.target == admin.target and (self.tls.enabled or not admin.tls_required)


# C0 and C1 control characters and DEL: a NUL cuts libpq's conninfo (and with it sslmode).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONNECTION_FIELDS = ("host", "username", "password", "dbname", "sslrootcert")


def check_connection_text(secret: Secret, what: str) -> None:
    """SecretFormatError when a connection field holds a control character or is not valid
    Unicode (a lone surrogate): such values never reach a driver or a connection string."""
    for key in CONNECTION_FIELDS:
        text = secret.get(key)
        if not isinstance(text, str):
            continue
        if _CONTROL.search(text):
            raise SecretFormatError(
                f"{what} has a control character (such as NUL or a newline) in {key!r}; "
                "remove it: smrotate never passes one to a database driver"
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SecretFormatError(
                f"{what} has {key!r} that is not valid Unicode (a lone surrogate, often from a "
                "bad \\u escape in the JSON); store it again as UTF-8 text"
            ) from None


def _ssl_flag(value: object, what: str) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise SecretFormatError(f"{what} has 'ssl' that is neither true nor false (JSON true/false)")


def parse_port(value: object, default: int, what: str) -> int:
    """The secret's `port`: a number or a string of digits, 1 to 65535; `default` if absent."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise SecretFormatError(f"{what} has a 'port' that is not a number")
    if isinstance(value, int):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    else:
        raise SecretFormatError(f"{what} has a 'port' that is not a number")
    if not 1 <= port <= 65535:
        raise SecretFormatError(f"{what} has 'port' {port}, outside 1 to 65535")
    return port


@dataclass(frozen=True)
class Database:
    """The schema of a SQL engine's secrets: `engines` maps each `engine` value it accepts to
    that engine's user-name limit (in characters, or UTF-8 bytes where the server `truncates`)."""

    engines: Mapping[str, int]
    default_port: int
    default_dbname: str | None = None
    # The server silently truncates longer names (PostgreSQL): every value's user name is
    # checked against the limit, in UTF-8 bytes. Else the server refuses a name it cannot hold
    # itself. Either way USERNAME_CHARACTER_LIMIT, when set, replaces the limit clone names keep.
    truncates: bool = False
    names: str = "this engine's user names"  # as messages call them

    def parse(self, value: Secret, label: str, env: Mapping[str, str]) -> DatabaseAccount:
        """A DatabaseAccount; SecretFormatError naming the field at fault."""
        username, password = credentials(value, label)
        engine = value.get("engine")
        if engine is not None and engine not in self.engines:
            raise SecretFormatError(
                f"{label} has engine {engine!r}; this rotator rotates "
                f"{', '.join(sorted(self.engines))}"
            )
        engine = str(engine or min(self.engines))
        check_connection_text(value, label)
        host = value.get("host")
        if not isinstance(host, str) or not host.strip():
            raise SecretFormatError(f"{label} has no 'host' string")
        tls_enabled = _ssl_flag(value.get("ssl"), label)
        if host.strip().startswith("/") and tls_enabled:
            raise SecretFormatError(
                f"{label} names a Unix socket as 'host', where TLS does not apply; use a host "
                'name, or say "ssl": false if a local socket is really meant'
            )
        dbname = value.get("dbname")
        if dbname is not None and (not isinstance(dbname, str) or not dbname):
            raise SecretFormatError(f"{label} has a 'dbname' that is not a non-empty string")
        ca_file = value.get("sslrootcert") or env.get(CA_BUNDLE_ENV) or None
        if ca_file is not None and not isinstance(ca_file, str):
            raise SecretFormatError(f"{label} has an 'sslrootcert' that is not a file path")
        limit = self.engines[engine]
        if self.truncates and len(username.encode()) > limit:
            raise SecretFormatError(
                f"{label} has a 'username' of {len(username.encode())} bytes in UTF-8; "
                f"{self.names} hold at most {limit} (for alternating users, lower "
                f"{USERNAME_LIMIT_ENV})"
            )
        return DatabaseAccount(
            value=value,
            username=username,
            password=password,
            label=label,
            username_limit=username_limit(env, limit),
            engine=engine,
            host=host.strip(),
            port=parse_port(value.get("port"), self.default_port, label),
            dbname=dbname or self.default_dbname,
            tls=Tls(enabled=tls_enabled, ca_file=ca_file),
            connect_timeout=env_float(
                env, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, low=0.5, high=300
            ),
        )

    def complete_admin(
        self, value: Secret, arn: str, describe: Callable[[str], SecretDescription]
    ) -> Secret:
        """The admin secret as it is, except for an RDS-managed one (username and password
        only), whose host, port and engine come from the RDS API. Nothing of the user's
        secret (dbname, ssl, sslrootcert, host) ever chooses how the admin connects: its TLS
        is verify-full unless the admin secret itself says `"ssl": false`."""
        if value.get("host"):
            return value
        return {**value, **rds_endpoint(describe(arn))}


def rds_endpoint(description: SecretDescription) -> dict[str, Any]:
    """host, port and engine of the RDS instance or cluster that manages the admin secret
    `description` describes."""
    # RDS writes aws:rds:primaryDBInstanceArn (mixed case): match tag keys case-insensitively.
    tags = {key.lower(): value for key, value in description.tags.items()}
    instance, cluster = tags.get(RDS_INSTANCE_TAG), tags.get(RDS_CLUSTER_TAG)
    if not instance and not cluster:
        raise SecretFormatError(
            "the admin secret named by 'masterarn' has no 'host', and no "
            f"{RDS_INSTANCE_TAG} or {RDS_CLUSTER_TAG} tag to find it through RDS; add 'host'"
        )
    from smrotate.rds import describe_cluster_endpoint, describe_instance_endpoint

    return (
        describe_instance_endpoint(instance)
        if instance
        else describe_cluster_endpoint(str(cluster))
    )


def target_error(
    account: Account, failure: Failure, detail: str, action: str = "connecting"
) -> TargetError:
    """A TargetError (LoginRefusedError for authentication) whose message names the account and
    what failed, with the driver's `detail` scrubbed of secret values."""
    message = f"{action} as {account.describe()}: {redaction.scrub(detail.strip())}"
    if failure is Failure.AUTHENTICATION:
        return LoginRefusedError(message)
    return TargetError(message, failure)


# Driver wording (OpenSSL, the OS, libpq, MySQL clients) that means the connection itself failed.
_TLS_WORDS = re.compile(r"\bssl\b|\btls|certificate|handshake|host ?name mismatch", re.IGNORECASE)
_NETWORK_WORDS = re.compile(
    r"connection refused|timed out|timeout|resolve host|could not translate host|name or service "
    r"not known|unreachable|no route to host|connection reset|closed the connection|broken pipe|"
    r"can't connect|lost connection",
    re.IGNORECASE,
)


def transport_failure(detail: str) -> Failure | None:
    """TLS or NETWORK when a driver's error message says the connection itself failed (TLS is
    checked first), else None: the engine then classifies login and privilege errors itself."""
    if _TLS_WORDS.search(detail):
        return Failure.TLS
    if _NETWORK_WORDS.search(detail):
        return Failure.NETWORK
    return None


def classify_failure(
    detail: str,
    *,
    tls: Sequence[str] = (),
    authentication: Sequence[str] = (),
    privilege: Sequence[str] = (),
) -> Failure:
    """The Failure a driver's error message describes: the engine's own phrases first (lower
    case, in this order), then the TLS and network wording all drivers share; else OTHER."""
    text = detail.lower()
    for failure, phrases in (
        (Failure.TLS, tls),
        (Failure.AUTHENTICATION, authentication),
        (Failure.PRIVILEGE, privilege),
    ):
        if any(phrase in text for phrase in phrases):
            return failure
    return transport_failure(detail) or Failure.OTHER
