"""The application's side of a rotation: credentials from a cached secret, fetched again when a
login is refused.

An application that caches AWSCURRENT holds the old password once a rotation has changed it;
its open connections keep working, its new ones are refused. The helpers here open every new
connection with the cached AWSCURRENT, and when the server refuses the login (and only then):

1. fetch the secret again, once (`SecretCredentials.refresh`), and log in once more with it;
2. if that is refused too while a rotation is in progress (a version holds AWSPENDING), log in
   once with AWSPENDING. That is the single-user strategy's window: setSecret has changed the
   password and finishSecret has not yet moved AWSCURRENT, so only AWSPENDING works.

(If no version holds AWSPENDING any more, finishSecret has just moved AWSCURRENT: it is fetched
once more instead.) So a connection costs at most three logins, never a loop, and any other
error (a closed port, a TLS failure, a timeout) is raised at once, without a refresh.

Why aws-secretsmanager-caching: it is AWS's cache for Secrets Manager, thread-safe, and it
serves AWSCURRENT with one DescribeSecret per refresh and one GetSecretValue per new version,
fetching it again after a random time between half `refresh_interval` and `refresh_interval`.
A refused login needs a fetch now: its `refresh_secret_now` first sleeps a random 2.5 to 5 s
(FORCE_REFRESH_JITTER_SLEEP in its source), which would stall every refused connection that
long, so `refresh` calls GetSecretValue itself with the cache's client and serves that value
until the cache holds another one. Threads refused at the same moment share one fetch
(REUSE_SECONDS), which is what the library's sleep spreads out.

The drivers (psycopg, PyMySQL, redis-py), boto3 and aws-secretsmanager-caching are imported by
the functions that use them: importing this module loads none of them. Nothing here logs or
raises a password, a secret value or a connection string; messages name the secret and what is
wrong.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from smrotate.errors import ConfigurationError, SecretFormatError

if TYPE_CHECKING:
    import psycopg
    import redis
    from pymysql.connections import Connection as PyMySQLConnection
    from redis.credentials import CredentialProvider
    from redis.retry import Retry

__all__ = [
    "SecretCredentials",
    "SecretFormatError",
    "SecretSource",
    "connect",
    "connect_psycopg",
    "connect_pymysql",
    "credential_provider",
    "default_cache",
    "is_psycopg_auth_failure",
    "is_pymysql_auth_failure",
    "redis_client",
    "reset_default_cache",
]

logger = logging.getLogger(__name__)

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PG_AUTH_SQLSTATES = frozenset({"28P01", "28000"})  # invalid_password, invalid_authorization
MYSQL_ACCESS_DENIED = 1045  # ER_ACCESS_DENIED_ERROR
T = TypeVar("T")


class SecretSource(Protocol):
    """What `SecretCredentials` needs of a cache: aws_secretsmanager_caching.SecretCache's two
    methods (any object with them will do, such as a fake in a unit test)."""

    def get_secret_string(self, secret_id: str, version_stage: str | None = None) -> str | None:
        """The cached SecretString of the version holding `version_stage` (None: no version
        holds it, or the secret is binary); fetched first if the cache has none or it expired."""
        ...

    def refresh_secret_now(self, secret_id: str) -> bool:
        """Fetch the secret's labels (and any new version) now; False when the fetch failed."""
        ...


def _missing(exc: ModuleNotFoundError, module: str, extra: str) -> ConfigurationError | None:
    """The error to raise when `module` itself (not something it imports) is missing."""
    if exc.name != module:
        return None
    return ConfigurationError(
        f"smrotate.consumer needs {module}, which is not installed: pip install 'smrotate[{extra}]'"
    )


def _new_client() -> Any:
    """A Secrets Manager client from botocore's default session (region, credentials)."""
    import botocore.session

    return botocore.session.get_session().create_client("secretsmanager")


def _library() -> Any:
    """aws_secretsmanager_caching; ConfigurationError naming the extra when it is missing."""
    try:
        import aws_secretsmanager_caching  # type: ignore[import-untyped]
    except ModuleNotFoundError as exc:
        error = _missing(exc, "aws_secretsmanager_caching", "consumer")
        if error is None:
            raise
        raise error from None
    return aws_secretsmanager_caching


def _new_cache(client: Any, refresh_interval: float | None = None) -> SecretSource:
    """A SecretCache over `client`, refreshing within `refresh_interval` seconds (None: the
    library's default, 3600)."""
    library = _library()
    options: dict[str, Any] = {}
    if refresh_interval is not None:
        if not refresh_interval > 0:
            raise ValueError("refresh_interval must be a positive number of seconds")
        options["secret_refresh_interval"] = max(1, math.ceil(refresh_interval))
    cache: SecretSource = library.SecretCache(
        config=library.SecretCacheConfig(**options), client=client
    )
    return cache


_default: tuple[SecretSource, Any] | None = None  # the shared cache and its client
_default_lock = threading.Lock()


def _default_pair() -> tuple[SecretSource, Any]:
    global _default  # noqa: PLW0603 (one cache per process, made on first use)
    with _default_lock:
        if _default is None:
            _library()  # the clear error first, if it is missing
            client = _new_client()
            _default = (_new_cache(client), client)
        return _default


def default_cache() -> SecretSource:
    """The process's shared SecretCache, made on first use: botocore's default session and
    region, the library's defaults (AWSCURRENT fetched again within an hour)."""
    return _default_pair()[0]


def reset_default_cache() -> None:
    """Forget the shared cache: the next `default_cache()` makes a new one (for tests, or after
    the process's AWS settings changed)."""
    global _default  # noqa: PLW0603
    with _default_lock:
        _default = None


def _parse(text: str | None, what: str) -> dict[str, Any]:
    """A secret value as a dict with a username and a password; SecretFormatError naming the
    secret and the field, never quoting the value."""
    if text is None:
        raise SecretFormatError(f"{what} has no SecretString (no such version, or binary)")
    try:
        value = json.loads(text)
    except ValueError:
        raise SecretFormatError(f"{what} is not JSON") from None  # the error would quote it
    if not isinstance(value, dict):
        raise SecretFormatError(f"{what} is JSON but not an object")
    for key in ("username", "password"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SecretFormatError(f"{what} has no {key!r} string")
    from smrotate.database import check_connection_text

    check_connection_text(value, what)
    return value


REUSE_SECONDS = 1.0  # a refresh another thread made this recently is reused, not repeated


class SecretCredentials:
    """The credentials in one secret, read from a cache, fetched again when a login is refused.

    `cache`: a SecretCache (or any `SecretSource`) to share with other code; else one is made:
    the process's `default_cache()` when neither `client` nor `refresh_interval` is given, or a
    private one over `client` (a boto3 or botocore Secrets Manager client; None: botocore's
    default session) that fetches the secret again within `refresh_interval` seconds (whole
    seconds, rounded up; None: the library's 3600). With your own `cache`, `client` is the one
    `refresh` uses. Make one object per secret and keep it: each private cache fetches the
    secret on its first use.

    Thread-safe; `refreshes` counts the forced fetches (for metrics and tests).
    """

    def __init__(
        self,
        secret_id: str,
        *,
        cache: SecretSource | None = None,
        client: Any = None,
        refresh_interval: float | None = None,
    ) -> None:
        if cache is not None and refresh_interval is not None:
            raise ValueError("pass either a cache, or a refresh_interval to make one")
        if cache is None and client is None and refresh_interval is None:
            cache, client = _default_pair()
        elif cache is None:
            _library()  # the clear error first, if it is missing
            client = client if client is not None else _new_client()
            cache = _new_cache(client, refresh_interval)
        self.secret_id = secret_id
        self.cache = cache
        self.client = client  # None: refresh falls back to the cache's refresh_secret_now
        self.refreshes = 0
        self._lock = threading.Lock()  # guards the fields below
        self._refreshing = threading.Lock()  # one fetch at a time; the others reuse it
        # (the cached text that was refused, the fresh text, the fresh value, when fetched):
        # served instead of the cache while the cache still holds the refused text.
        self._fresh: tuple[str | None, str | None, dict[str, Any], float] | None = None

    def __repr__(self) -> str:
        return f"SecretCredentials({self.secret_id!r})"

    def value(self) -> dict[str, Any]:
        """AWSCURRENT, parsed: a new dict holding at least a `username` and a `password`
        string. Served from the cache (fetched first when it has none or it expired), or from
        the last `refresh` while the cache still holds the value that refresh replaced; the
        cache's fetch errors (botocore's ClientError...) pass through; SecretFormatError when
        the value is not such a JSON object."""
        text = self.cache.get_secret_string(self.secret_id, CURRENT)
        with self._lock:
            if self._fresh is not None:
                if text == self._fresh[0]:
                    return dict(self._fresh[2])
                self._fresh = None  # the cache caught up
        return _parse(text, f"secret {self.secret_id!r} ({CURRENT})")

    def refresh(self, refused: dict[str, Any] | None = None) -> dict[str, Any]:
        """AWSCURRENT fetched from Secrets Manager now (one GetSecretValue; `value()` serves it
        until the cache holds something else than what it held then), parsed as `value()`
        says. A fetch made by another thread in the last REUSE_SECONDS is reused unless it gave
        `refused` (the value the server just refused). Without a `client` (your own cache and
        none given) it is the cache's refresh_secret_now, which first sleeps 2.5 to 5 s. When
        the fetch fails, a warning is logged and the cached value is returned: the caller's
        next login says whether it still works."""
        what = f"secret {self.secret_id!r} ({CURRENT})"
        with self._refreshing:
            with self._lock:
                fresh = self._fresh
                if (
                    fresh is not None
                    and time.monotonic() - fresh[3] < REUSE_SECONDS
                    and fresh[2] != refused
                ):
                    return dict(fresh[2])
                self.refreshes += 1
            logger.debug("secret %s: fetching it again", self.secret_id)
            if self.client is None:
                if not self.cache.refresh_secret_now(self.secret_id):
                    logger.warning("secret %s: fetching it again failed", self.secret_id)
                return self.value()
            stale = self.cache.get_secret_string(self.secret_id, CURRENT)
            try:
                text = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=CURRENT)
            except Exception as exc:
                logger.warning(
                    "secret %s: fetching it again failed (%s); the cached value stays",
                    self.secret_id,
                    type(exc).__name__,
                )
                return self.value()
            parsed = _parse(text.get("SecretString"), what)
            with self._lock:
                self._fresh = (stale, text.get("SecretString"), parsed, time.monotonic())
            return dict(parsed)

    def pending(self) -> dict[str, Any] | None:
        """AWSPENDING, parsed, while a rotation is in progress (fetched now, or read from the
        cache without a `client`); None when no version holds it, or it cannot be read or
        parsed (logged at DEBUG): it only feeds a last login attempt, so it never raises."""
        what = f"secret {self.secret_id!r} ({PENDING})"
        try:
            if self.client is None:
                text = self.cache.get_secret_string(self.secret_id, PENDING)
            else:
                response = self.client.get_secret_value(
                    SecretId=self.secret_id, VersionStage=PENDING
                )
                text = response.get("SecretString")
            return None if text is None else _parse(text, what)
        except Exception as exc:  # none holds it, or an IAM policy denies AWSPENDING
            logger.debug("%s cannot be used: %s", what, type(exc).__name__)
            return None


def connect(
    credentials: SecretCredentials,
    connect_fn: Callable[[dict[str, Any]], T],
    is_auth_failure: Callable[[BaseException], bool],
) -> T:
    """`connect_fn(value)` with AWSCURRENT from the cache; when it raises an exception that
    `is_auth_failure` accepts (the server refused the login), once more after
    `credentials.refresh()`, and, if refused again, once with AWSPENDING while a version holds
    it (the single-user window), else with AWSCURRENT fetched once more if it changed since
    (finishSecret moved it meanwhile). At most three calls and four GetSecretValue; the last
    refusal is raised as it is. Any other exception is raised at once, with no refresh and no
    retry."""
    first = credentials.value()
    try:
        return connect_fn(first)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
    logger.info(
        "secret %s: login refused with the cached AWSCURRENT; fetching it again",
        credentials.secret_id,
    )
    fresh = credentials.refresh(refused=first)
    try:
        return connect_fn(fresh)
    except Exception as exc:
        if not is_auth_failure(exc):
            raise
        last = credentials.pending()
        if last is None or last == fresh:
            # None holds AWSPENDING: no rotation, or finishSecret ended it since the refresh
            # and moved AWSCURRENT (fetched once more: a rotation takes well under a second).
            last = credentials.refresh(refused=fresh)
            if last == fresh:
                raise
    logger.info(
        "secret %s: AWSCURRENT refused during a rotation; logging in with its newer value",
        credentials.secret_id,
    )
    return connect_fn(last)


# ------------------------------------------------------------------ what the drivers share


def _endpoint(
    value: dict[str, Any], credentials: SecretCredentials, default_port: int
) -> tuple[str, int, bool]:
    """(host, port, tls) from a secret value: TLS unless it says `"ssl": false`."""
    from smrotate.database import parse_port

    what = f"secret {credentials.secret_id!r}"
    host = value.get("host")
    if not isinstance(host, str) or not host.strip():
        raise SecretFormatError(f"{what} has no 'host' string")
    tls = value.get("ssl", True)
    if isinstance(tls, str) and tls.strip().lower() in {"true", "false"}:
        tls = tls.strip().lower() == "true"
    if not isinstance(tls, bool):
        raise SecretFormatError(f"{what} has 'ssl' that is neither true nor false")
    return host.strip(), parse_port(value.get("port"), default_port, what), tls


def _ca_file(value: dict[str, Any], given: object, credentials: SecretCredentials) -> str | None:
    """The CA bundle: the caller's, else the secret's `sslrootcert`, else None (the system's)."""
    ca = given if given is not None else value.get("sslrootcert")
    if ca is not None and not isinstance(ca, str):
        raise SecretFormatError(
            f"secret {credentials.secret_id!r} has an 'sslrootcert' that is not a file path"
        )
    return ca or None


def _reject(kwargs: dict[str, Any], names: tuple[str, ...], why: str) -> None:
    given = sorted(set(names) & set(kwargs))
    if given:
        raise TypeError(f"{', '.join(given)}: {why}")


# ------------------------------------------------------------------ psycopg 3


def is_psycopg_auth_failure(exc: BaseException) -> bool:
    """A psycopg OperationalError whose SQLSTATE is 28P01 or 28000, or that says the password
    authentication failed (libpq reports a refused login at connect without a SQLSTATE)."""
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate in PG_AUTH_SQLSTATES or "password authentication failed" in str(exc)


def connect_psycopg(credentials: SecretCredentials, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg 3 connection with the secret's host, port, username, password and dbname, over
    TLS with sslmode verify-full (against the secret's `sslrootcert`, else the system's CAs),
    or sslmode disable when the secret says `"ssl": false`. `kwargs` go to psycopg.connect and
    win over the secret's settings (sslrootcert, connect_timeout, autocommit...), except `user`
    and `password`, which only the secret gives. A refused login is retried as `connect`
    says; the last error is psycopg's own."""
    try:
        import psycopg
    except ModuleNotFoundError as exc:
        error = _missing(exc, "psycopg", "postgres")
        if error is None:
            raise
        raise error from None
    _reject(kwargs, ("user", "password"), "the secret gives them")

    def open_connection(value: dict[str, Any]) -> psycopg.Connection[Any]:
        host, port, tls = _endpoint(value, credentials, 5432)
        params: dict[str, Any] = {"host": host, "port": port, "sslmode": "disable"}
        if tls:
            ca = _ca_file(value, kwargs.get("sslrootcert"), credentials)
            params |= {"sslmode": "verify-full", "sslrootcert": ca or _pg_system_roots()}
        if isinstance(value.get("dbname"), str) and value["dbname"]:
            params["dbname"] = value["dbname"]
        params |= kwargs
        return psycopg.connect(user=value["username"], password=value["password"], **params)

    return connect(credentials, open_connection, is_psycopg_auth_failure)


def _pg_system_roots() -> str:
    """libpq's name for the system's CAs (`system`, libpq 16 and later), else their bundle."""
    import psycopg

    if psycopg.pq.version() >= 160000:
        return "system"
    from smrotate.database import system_ca_bundle

    return system_ca_bundle()


# ------------------------------------------------------------------ PyMySQL


def is_pymysql_auth_failure(exc: BaseException) -> bool:
    """A PyMySQL OperationalError with error 1045 (access denied: a wrong password or user)."""
    import pymysql

    return isinstance(exc, pymysql.OperationalError) and bool(
        exc.args and exc.args[0] == MYSQL_ACCESS_DENIED
    )


def connect_pymysql(credentials: SecretCredentials, **kwargs: Any) -> PyMySQLConnection[Any]:
    """A PyMySQL connection with the secret's host, port, username, password and dbname (as
    `database`), charset utf8mb4, over TLS that checks the chain and the host name (against
    `ssl_ca` if given, else the secret's `sslrootcert`, else the system's CAs; or `ssl`, an
    SSLContext of the caller's), or plaintext only (`ssl_disabled`) when the secret says
    `"ssl": false`. Other `kwargs` go to pymysql.connect and win over the secret's settings,
    except `user` and `password`. PyMySQL's other ssl_* options are refused: with them it makes
    its own context, which does not check the host name. A refused login (1045) is retried as
    `connect` says; the last error is PyMySQL's own."""
    try:
        import pymysql
    except ModuleNotFoundError as exc:
        error = _missing(exc, "pymysql", "mysql")
        if error is None:
            raise
        raise error from None
    _reject(kwargs, ("user", "password"), "the secret gives them")
    _reject(
        kwargs,
        ("ssl_cert", "ssl_key", "ssl_key_password", "ssl_verify_cert", "ssl_verify_identity"),
        "pass an ssl.SSLContext as ssl= instead (PyMySQL's own would not check the host name)",
    )
    options = dict(kwargs)
    given_ca = options.pop("ssl_ca", None)

    def open_connection(value: dict[str, Any]) -> PyMySQLConnection[Any]:
        from smrotate.database import Tls

        host, port, tls = _endpoint(value, credentials, 3306)
        params: dict[str, Any] = {"host": host, "port": port, "charset": "utf8mb4"}
        if tls and "ssl" not in options:  # chain and host name checked, TLS 1.2 or later
            ca = _ca_file(value, given_ca, credentials)  # one context per CA file and version
            params["ssl"] = Tls(enabled=True, ca_file=ca).context()
        params["ssl_disabled"] = not tls  # else PyMySQL tries TLS, then falls back to plaintext
        if isinstance(value.get("dbname"), str) and value["dbname"]:
            params["database"] = value["dbname"]
        params |= options
        password = str(value["password"]).encode()  # UTF-8, as the rotator sets it
        connection: PyMySQLConnection[Any] = pymysql.connect(
            user=value["username"], password=password, **params
        )
        return connection

    return connect(credentials, open_connection, is_pymysql_auth_failure)


# ------------------------------------------------------------------ redis-py


# (credentials, connection, value) while a login of `redis_client` tries `value`, per thread
_LOGIN = threading.local()


def credential_provider(credentials: SecretCredentials) -> CredentialProvider:
    """A redis-py CredentialProvider that every new connection asks for (username, password):
    AWSCURRENT from the cache, or, inside a login retry of `redis_client` on this thread, the
    value being tried."""
    from redis.credentials import CredentialProvider

    class SecretCredentialProvider(CredentialProvider):
        def get_credentials(self) -> tuple[str, str]:
            trying = getattr(_LOGIN, "trying", None)
            value = trying[2] if trying and trying[0] is credentials else credentials.value()
            return str(value["username"]), str(value["password"])

    return SecretCredentialProvider()


def _refusal_is_final(retry: Retry) -> Retry:
    """`retry` (redis-py's policy for connection errors and timeouts) made to raise a refused
    login (AuthenticationError, a ConnectionError) at once: redis-py would otherwise send the
    same credentials again, `retries` times with its backoff."""
    from redis.exceptions import AuthenticationError
    from redis.retry import Retry

    class RefusalIsFinal(Retry):
        def call_with_retry(
            self,
            do: Callable[[], T],
            fail: Callable[[Exception], Any] | Callable[[Exception, int], Any],
            is_retryable: Callable[[Exception], bool] | None = None,
            with_failure_count: bool = False,
        ) -> T:
            def retryable(error: Exception) -> bool:
                if isinstance(error, AuthenticationError):
                    return False
                return is_retryable is None or is_retryable(error)

            return super().call_with_retry(do, fail, retryable, with_failure_count)

    return RefusalIsFinal(retry._backoff, retry.get_retries(), retry._supported_errors)


def redis_client(credentials: SecretCredentials, **kwargs: Any) -> redis.Redis:
    """A redis-py client on the secret's host and port (6379 by default), over TLS that checks
    the chain and the host name (against `ssl_ca_certs` if given, else the secret's
    `sslrootcert`, else the system's CAs) unless the secret says `"ssl": false`. The pool makes
    connections when commands need them; each new one asks `credential_provider(credentials)`
    for its credentials and logs in as `connect` says: a refused AUTH is sent again once after
    a refresh, and once with AWSPENDING during a rotation, then AuthenticationError is raised,
    which redis-py does not retry (its `retry`, by default 3 retries with backoff, or the
    caller's, still applies to the other connection errors). Other `kwargs` go to redis.Redis
    and win over the secret's settings, except `username`, `password`, `credential_provider`,
    `redis_connect_func` and `connection_pool`, which this function sets."""
    try:
        import redis
    except ModuleNotFoundError as exc:
        error = _missing(exc, "redis", "redis")
        if error is None:
            raise
        raise error from None
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import AuthenticationError
    from redis.retry import Retry

    _reject(
        kwargs,
        ("username", "password", "credential_provider", "redis_connect_func", "connection_pool"),
        "redis_client sets them from the secret",
    )
    options = dict(kwargs)
    value = credentials.value()
    host, port, tls = _endpoint(value, credentials, 6379)
    params: dict[str, Any] = {"host": host, "port": port}
    if tls:
        ca = _ca_file(value, options.pop("ssl_ca_certs", None), credentials)
        params |= {"ssl": True, "ssl_ca_certs": ca, "ssl_check_hostname": True}
        params["ssl_cert_reqs"] = "required"
    retry = options.pop("retry", None) or Retry(ExponentialWithJitterBackoff(base=1, cap=10), 3)

    def log_in(connection: Any) -> None:
        """redis-py's handshake (AUTH with the provider's credentials, then its setup) with
        `connect`'s retries, on the thread that makes the connection. redis-py closes the
        socket when AUTH is refused, so a retry reconnects, and the handshake of that new
        socket (this hook again) is a plain one with the value being tried."""
        trying = getattr(_LOGIN, "trying", None)
        if trying is not None and trying[1] is connection:
            connection.on_connect()
            return
        attempts = 0

        def attempt(value: dict[str, Any]) -> None:
            nonlocal attempts
            attempts += 1
            _LOGIN.trying = (credentials, connection, value)
            try:
                if attempts == 1:
                    connection.on_connect()  # on the socket redis-py has just opened
                else:
                    connection.disconnect()
                    connection.connect()
            finally:
                _LOGIN.trying = None

        connect(credentials, attempt, lambda exc: isinstance(exc, AuthenticationError))

    params |= options
    params |= {
        "credential_provider": credential_provider(credentials),
        "redis_connect_func": log_in,
        "retry": _refusal_is_final(retry),
    }
    return redis.Redis(**params)
