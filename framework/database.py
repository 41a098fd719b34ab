"""What the SQL rotators share: connection settings from the secret, TLS, error wording,
admin secrets (RDS-managed ones included) and the `DatabaseRotator` base class.

A database rotator subclasses `DatabaseRotator`, names its engines, and implements `connect`
(open a session from `ConnectionSettings`, classifying failures) plus the SQL hooks of
`PasswordRotator`. Everything else, including which secret fields mean what, lives here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import ssl
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from smrotate import redaction
from smrotate.errors import (
    ConfigurationError,
    Failure,
    IdentityMismatchError,
    LoginRefusedError,
    RotationStateError,
    SecretFormatError,
    TargetError,
)
from smrotate.rotator import StepContext
from smrotate.settings import env_float
from smrotate.store import Secret
from smrotate.strategies import PasswordRotator

SessionT = TypeVar("SessionT")

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
        host name checked, TLS 1.2 or later. TargetError (TLS) when the bundle cannot be read."""
        path = self.ca_path()
        try:
            context = ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise TargetError(
                f"cannot read the CA bundle {path} ({type(exc).__name__}: {exc.strerror or exc}); "
                f"name a PEM file with 'sslrootcert' in the secret or {CA_BUNDLE_ENV}",
                Failure.TLS,
            ) from None
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to log in, from one secret. The password never appears in repr."""

    engine: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    dbname: str | None
    tls: Tls
    connect_timeout: float

    def describe(self) -> str:
        """`user 'x' at host:port` for messages: never the password, never a connection string."""
        return f"user {self.username!r} at {self.host}:{self.port}"


@dataclass(frozen=True)
class SessionFacts:
    """What the server says a session is: checked after every login (identity, TLS)."""

    user: str  # the account the server matched (PostgreSQL session_user; MySQL CURRENT_USER())
    host: str | None  # MySQL's host part of CURRENT_USER(); None where accounts have no host
    tls: bool  # the session really runs over TLS


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


def endpoint(settings: ConnectionSettings) -> tuple[str, int]:
    """(host, port) normalised for comparison: lower case, no trailing dot, no IPv6 brackets."""
    return settings.host.strip().strip("[]").rstrip(".").lower(), settings.port


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


class DatabaseRotator(PasswordRotator[SessionT]):
    """A PasswordRotator for SQL engines: secret fields, TLS, admin secrets, login counting.

    Subclasses set `engines`, `default_port`, `default_dbname`, `max_username_length`, and
    implement `connect` and the SQL hooks (`change_own_password`, `set_password`,
    `ensure_clone`).
    """

    engines: ClassVar[frozenset[str]] = frozenset()
    # The driver module the steps that log in import, and the pip extra that installs it.
    driver_module: ClassVar[str] = ""
    driver_extra: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    default_dbname: ClassVar[str | None] = None
    max_username_length: ClassVar[int] = 63

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ subclass hook

    def connect(self, settings: ConnectionSettings) -> AbstractContextManager[SessionT]:
        """Open a session with `settings`; close it on exit.

        Raise LoginRefusedError when the server rejects the credentials, TargetError with the
        right Failure (network, TLS, privilege) otherwise; never retry without TLS.
        """
        raise NotImplementedError

    def execute(
        self, session: SessionT, statement: Any, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one SQL statement and return its rows (empty when it returns none).

        Every statement a rotator sends goes through here, so that one place classifies
        errors (TargetError with a Failure, never quoting parameters) and so that the
        conformance kit can stop a run before or after any statement.
        """
        raise NotImplementedError

    def check_installed(self) -> None:
        """ConfigurationError naming the extra when `driver_module` is not installed; looks the
        module up without importing it (createSecret stays free of the driver's cost)."""
        if self.driver_module and importlib.util.find_spec(self.driver_module) is None:
            raise ConfigurationError(
                f"{type(self).__name__} needs the {self.driver_module} driver, which is not "
                f"installed: pip install 'smrotate[{self.driver_extra}]' (in a Lambda package, "
                "build it with the SAM template of this engine)"
            )

    def session_facts(self, session: SessionT) -> SessionFacts:
        """Who the server says `session` is and whether it runs over TLS. Read-only, one
        round trip; `login` checks it after every connection."""
        raise NotImplementedError

    def prove_same_server(self, own: SessionT, admin: SessionT, username: str) -> bool:
        """True only when `admin`'s server can see `own`, the session of `username`, by a
        challenge the user's server could not answer for another server. Read-only apart
        from session state. Used when the two secrets name different endpoints."""
        return False

    # --------------------------------------------------------------- settings

    def check_secret(self, value: Secret, what: str) -> None:
        """username and password, plus a known engine, a host, a valid port, ssl and dbname."""
        super().check_secret(value, what)
        self.settings(value, what)

    def settings(self, secret: Secret, what: str = "the secret") -> ConnectionSettings:
        """Connection settings from a secret; SecretFormatError naming the field at fault."""
        engine = secret.get("engine")
        if engine is not None and engine not in self.engines:
            raise SecretFormatError(
                f"{what} has engine {engine!r}; {type(self).__name__} rotates "
                f"{', '.join(sorted(self.engines))}"
            )
        check_connection_text(secret, what)
        host = secret.get("host")
        if not isinstance(host, str) or not host.strip():
            raise SecretFormatError(f"{what} has no 'host' string")
        tls_enabled = _ssl_flag(secret.get("ssl"), what)
        if host.strip().startswith("/") and tls_enabled:
            raise SecretFormatError(
                f"{what} names a Unix socket as 'host', where TLS does not apply; use a host "
                'name, or say "ssl": false if a local socket is really meant'
            )
        dbname = secret.get("dbname")
        if dbname is not None and (not isinstance(dbname, str) or not dbname):
            raise SecretFormatError(f"{what} has a 'dbname' that is not a non-empty string")
        ca_file = secret.get("sslrootcert") or self.env.get(CA_BUNDLE_ENV) or None
        if ca_file is not None and not isinstance(ca_file, str):
            raise SecretFormatError(f"{what} has an 'sslrootcert' that is not a file path")
        return ConnectionSettings(
            engine=str(engine or sorted(self.engines)[0]),
            host=host.strip(),
            port=parse_port(secret.get("port"), self.default_port, what),
            username=str(secret["username"]),
            password=str(secret["password"]),
            dbname=dbname or self.default_dbname,
            tls=Tls(enabled=tls_enabled, ca_file=ca_file),
            connect_timeout=env_float(
                self.env, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT, low=0.5, high=300
            ),
        )

    # ----------------------------------------------------- PasswordRotator hooks

    @contextmanager
    def login(self, secret: Secret) -> Iterator[SessionT]:
        """Connect with the secret's settings, then prove the session is exactly the secret's
        user (LoginRefusedError otherwise: an anonymous or other account matched) and runs
        over TLS when TLS was asked (TargetError, TLS). Counts connections and refusals."""
        settings = self.settings(secret)
        redaction.register(settings.password)
        self.stats["connections"] += 1
        try:
            with self.connect(settings) as session:
                self._check_session(session, settings)
                yield session
        except LoginRefusedError:
            self.stats["refused"] += 1
            raise

    def _check_session(self, session: SessionT, settings: ConnectionSettings) -> None:
        facts = self.session_facts(session)
        if settings.tls.enabled and not facts.tls:
            raise TargetError(
                f"the session of {settings.describe()} does not use TLS although TLS was asked "
                "for; refusing it (check the server's TLS settings)",
                Failure.TLS,
            )
        if facts.user != settings.username:
            matched = facts.user if facts.host is None else f"{facts.user}@{facts.host}"
            raise IdentityMismatchError(
                f"logging in as {settings.describe()} matched account {matched!r}, not that "
                "user (an anonymous or other account took the login); drop that account or "
                "give the user a more specific host row"
            )

    def require_same_target(
        self, own: SessionT, admin: SessionT, secret: Secret, admin_secret: Secret
    ) -> None:
        """The admin acts only on the server where the user's credentials logged in: the two
        secrets name the same endpoint (and the user's login was verified TLS whenever the
        admin's is: a plaintext login could be answered by anyone on the path), or
        `prove_same_server` shows it. RotationStateError otherwise, before any change."""
        user, boss = self.settings(secret), self.settings(admin_secret, "the admin secret")
        if endpoint(user) == endpoint(boss) and (user.tls.enabled or not boss.tls.enabled):
            return  # a verified TLS login to the admin's endpoint reached the admin's server
        if self.prove_same_server(own, admin, user.username):
            return
        raise RotationStateError(
            f"the secret names {user.host}:{user.port} but the admin secret acts on "
            f"{boss.host}:{boss.port}, and the admin's session could not prove they are the "
            "same server (the log's warning says why); refusing to let the admin change an "
            "account it cannot tie to the secret. Give both secrets the same host and port, "
            "with TLS"
        )

    def same_account(self, a: Secret, b: Secret) -> bool:
        """Same user on the same host and port (the engine defaults filled in)."""
        try:
            x, y = self.settings(a), self.settings(b)
        except SecretFormatError:
            return False
        return (x.username, x.host.lower(), x.port) == (y.username, y.host.lower(), y.port)

    def username_limit(self, secret: Secret) -> int:
        """The engine's user name limit (a subclass may refine it per engine)."""
        return self.max_username_length

    def complete_admin_secret(self, ctx: StepContext, secret: Secret, admin: Secret) -> Secret:
        """The admin secret as it is, except for an RDS-managed admin secret (username and
        password only), whose host, port and engine come from the RDS API. Nothing of the
        user's secret (dbname, ssl, sslrootcert, host) ever chooses how the admin connects:
        the admin's TLS is verify-full unless the admin secret itself says `"ssl": false`."""
        admin = dict(admin)
        if not admin.get("host"):
            admin.update(rds_endpoint(ctx, str(secret["masterarn"])))
        return admin


def rds_endpoint(ctx: StepContext, admin_arn: str) -> dict[str, Any]:
    """host, port and engine of the RDS instance or cluster that manages the admin secret."""
    # RDS writes aws:rds:primaryDBInstanceArn (mixed case): match tag keys case-insensitively.
    tags = {key.lower(): value for key, value in ctx.describe(admin_arn).tags.items()}
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
    settings: ConnectionSettings, failure: Failure, detail: str, action: str = "connecting"
) -> TargetError:
    """A TargetError (LoginRefusedError for authentication) whose message names the account and
    what failed, with the driver's `detail` scrubbed of secret values."""
    message = f"{action} as {settings.describe()}: {redaction.scrub(detail.strip())}"
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
