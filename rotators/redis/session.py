"""A Redis session: `connect` (one connection, AUTH once, TLS verified unless `"ssl": false`,
never downgraded), `run` for one command and `replies` for read-only commands sent at once;
errors classified, naming the account and the command's verb, never a password or its hash."""

from __future__ import annotations

import functools
import hashlib
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from smrotate.database import DatabaseAccount, target_error, transport_failure
from smrotate.errors import Failure, TargetError

if TYPE_CHECKING:
    import redis

COMMAND_TIMEOUT = 30.0  # seconds to wait for one reply
_HASH = re.compile(r"[0-9a-f]{64}")  # the server quotes a refused `#<hash>` rule
PLAINTEXT_HINT = ' (the secret says "ssl": false; a TLS-only server closes such connections)'


def acl_hash(password: str) -> str:
    """The ACL rule that sets `password` without sending it: `#` and its SHA-256 in hex."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


@dataclass
class RedisSession:
    """A redis-py client on one connection, and the account that logged it in."""

    client: redis.Redis = field(repr=False)
    account: DatabaseAccount

    @property
    def tls(self) -> bool:
        """True when the connection's socket runs TLS."""
        return isinstance(getattr(self.client.connection, "_sock", None), ssl.SSLSocket)


def failure_of(exc: BaseException, detail: str) -> Failure:
    """What a redis-py error says failed: TLS when an SSL error caused a connection error."""
    import redis

    if isinstance(exc, redis.AuthenticationError):  # a ConnectionError: tested first
        return Failure.AUTHENTICATION
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return Failure.PRIVILEGE
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        if isinstance(exc.__context__, ssl.SSLError):
            return Failure.TLS
        return transport_failure(detail) or Failure.NETWORK
    return Failure.OTHER


def error(account: DatabaseAccount, exc: BaseException, action: str, hint: str = "") -> TargetError:
    """A TargetError (LoginRefusedError when refused) naming `account` and what failed, in the
    server's words without any password hash it quoted."""
    detail = _HASH.sub("<hash>", " ".join(str(exc).split()))
    return target_error(account, failure_of(exc, detail), detail + hint, action)


@functools.cache
def _verified_tls() -> type[redis.Connection]:
    """redis-py's TCP connection, wrapped in the engine's verified context (`Tls.context()`:
    the named bundle only, host name checked, TLS 1.2+, made once per bundle). redis-py's own
    SSLConnection would also trust the system's CAs, and load them for every connection."""
    import redis

    class VerifiedTls(redis.Connection):
        def __init__(self, *, tls_context: ssl.SSLContext, **kwargs: Any) -> None:
            self.tls_context = tls_context
            super().__init__(**kwargs)  # type: ignore[no-untyped-call]

        def _connect(self) -> socket.socket:
            sock = super()._connect()  # type: ignore[no-untyped-call]
            try:
                return self.tls_context.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise

    return VerifiedTls


@contextmanager
def connect(account: DatabaseAccount) -> Iterator[RedisSession]:
    """One connection, logged in with AUTH username password once (redis-py's retries off: it
    would send a refused AUTH again), over TLS unless the secret says `"ssl": false`."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    where: dict[str, Any] = {"host": account.host, "port": account.port}
    if account.tls.enabled:
        where |= {"connection_class": _verified_tls(), "tls_context": account.tls.context()}
    elif account.host.startswith("/"):  # the schema allows a socket only with "ssl": false
        where = {"connection_class": redis.UnixDomainSocketConnection, "path": account.host}
    # No CLIENT SETINFO round trips (redis-py 7 replaced lib_name and lib_version).
    newer = find_spec("redis.driver_info") is not None
    where |= {"driver_info": None} if newer else {"lib_name": None, "lib_version": None}
    pool = redis.ConnectionPool(
        username=account.username,
        password=account.password,
        socket_connect_timeout=account.connect_timeout,
        socket_timeout=COMMAND_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        **where,
    )
    try:
        try:
            client = redis.Redis(connection_pool=pool, single_connection_client=True)  # logs in
        except redis.RedisError as exc:
            plain = not account.tls.enabled and not isinstance(exc, redis.AuthenticationError)
            raise error(account, exc, "connecting", PLAINTEXT_HINT if plain else "") from None
        yield RedisSession(client, account)
    finally:
        pool.disconnect()  # closes the socket whatever happened, a simulated crash included


def run(session: RedisSession, *args: str) -> Any:
    """Send one command, return its reply; a classified TargetError naming only its verb."""
    import redis

    try:
        return session.client.execute_command(*args)  # type: ignore[no-untyped-call]
    except redis.RedisError as exc:
        raise error(session.account, exc, "running " + " ".join(args[:2])) from None


def replies(session: RedisSession, *commands: Sequence[str], check: bool = True) -> list[Any]:
    """Read-only commands sent at once on the session's connection (one round trip), their
    replies; with `check` False, an error reply is returned as its ResponseError."""
    import redis

    conn = session.client.connection
    assert conn is not None  # a single-connection client holds its connection
    answers: list[Any] = []
    try:
        packed = conn.pack_commands(commands)  # type: ignore[no-untyped-call]
        conn.send_packed_command(packed)  # type: ignore[no-untyped-call]
        for _ in commands:
            try:
                answers.append(conn.read_response())  # type: ignore[no-untyped-call]
            except redis.ResponseError as exc:
                answers.append(exc)
    except redis.RedisError as exc:
        raise error(session.account, exc, "running " + " ".join(commands[0][:2])) from None
    for command, answer in zip(commands, answers, strict=True):
        if check and isinstance(answer, Exception):
            raise error(session.account, answer, "running " + " ".join(command[:2]))
    return answers
