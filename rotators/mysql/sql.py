"""MySQL or MariaDB, which version, and the account SQL each one needs.

`Server.parse` reads the answer to `SELECT VERSION()` ("10.11.6-MariaDB-0+deb12u1",
"8.0.36", "8.0.mysql_aurora.3.05.2"; also a handshake's "5.5.5-10.11.6-MariaDB"). The
statement builders return `Sql`: a pymysql template whose every value, user name, host, role
and plugin name is a `%s` parameter. Identifiers that cannot be parameters (database, table,
column names) go through `quote_identifier`. Every template is %-formatted by pymysql, so a
literal `%` in one is written `%%`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from smrotate.errors import Failure, TargetError

Sql = tuple[str, tuple[Any, ...]]
Role = tuple[str, str]  # (name, host); MariaDB roles have no host: ""

MARIADB, MYSQL = "mariadb", "mysql"
NATIVE = "mysql_native_password"
MARK_KEY = "smrotate_clone_of"  # the clone mark: a key of the account's JSON (see mark_clone)
# Aurora MySQL reports "8.0.mysql_aurora.3.05.2": its MySQL patch level is that of its major.
_AURORA_BASE = {1: (5, 6, 10), 2: (5, 7, 12), 3: (8, 0, 23)}
# Plugins that authenticate with a password, the only accounts a password rotation can serve.
PASSWORD_PLUGINS = {
    MARIADB: frozenset({"mysql_native_password", "ed25519", "parsec", ""}),
    MYSQL: frozenset({"mysql_native_password", "caching_sha2_password", "sha256_password", ""}),
}


@dataclass(frozen=True)
class Server:
    """The server's flavour (`mariadb` or `mysql`, Aurora MySQL included) and version."""

    flavour: str
    version: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> Server:
        """Read `SELECT VERSION()`; TargetError when it holds no version number."""
        lowered = text.strip().lower()
        flavour = MARIADB if "mariadb" in lowered else MYSQL
        if flavour == MARIADB and lowered.startswith("5.5.5-"):
            lowered = lowered[len("5.5.5-") :]  # the prefix MariaDB adds for old clients
        found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", lowered)
        if found is None:
            raise TargetError(
                f"the server's version {text[:80]!r} holds no version number", Failure.OTHER
            )
        major, minor = int(found[1]), int(found[2])
        patch = int(found[3]) if found[3] else 0
        aurora = re.search(r"mysql_aurora\.(\d+)", lowered)
        if aurora and not found[3]:
            major, minor, patch = _AURORA_BASE.get(int(aurora[1]), (major, minor, 0))
        return cls(flavour, (major, minor, patch))

    @property
    def mariadb(self) -> bool:
        """True for MariaDB, False for MySQL and Aurora MySQL."""
        return self.flavour == MARIADB

    def __str__(self) -> str:
        return ("MariaDB " if self.mariadb else "MySQL ") + ".".join(map(str, self.version))

    def at_least(self, mariadb: tuple[int, ...], mysql: tuple[int, ...]) -> bool:
        """True when the version reaches `mariadb` (on MariaDB) or `mysql` (on MySQL)."""
        return self.version >= (mariadb if self.mariadb else mysql)

    @property
    def username_limit(self) -> int:
        """The longest user name this server accepts, in characters."""
        if self.mariadb:
            return 80 if self.version >= (10, 0, 0) else 16
        return 32 if self.version >= (5, 7, 8) else 16

    def check_username(self, name: str) -> None:
        """TargetError when `name` is longer than this server allows."""
        if len(name) > self.username_limit:
            raise TargetError(
                f"user name {name!r} has {len(name)} characters; this {self} server allows "
                f"{self.username_limit}: set USERNAME_CHARACTER_LIMIT to {self.username_limit} "
                "or less",
                Failure.OTHER,
            )

    @property
    def has_roles(self) -> bool:
        """Roles exist from MariaDB 10.0.5 and MySQL 8.0."""
        return self.at_least((10, 0, 5), (8, 0, 0))

    @property
    def marks_clones(self) -> bool:
        """A clone can carry smrotate's mark: MariaDB 10.4+ (mysql.global_priv's JSON) and
        MySQL 8.0.21+ (account attributes)."""
        return self.at_least((10, 4, 0), (8, 0, 21))

    @property
    def password_plugins(self) -> frozenset[str]:
        """Authentication plugins whose accounts have a password."""
        return PASSWORD_PLUGINS[self.flavour]


def quote_identifier(name: str) -> str:
    """A database, table or column name as a backquoted identifier, `%` escaped for pymysql."""
    if "\x00" in name:
        raise ValueError("an identifier cannot contain NUL")
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


# ------------------------------------------------------------------ passwords


# The account the server matched (`user@host`) and its version, in one round trip.
SESSION_FACTS = "SELECT CURRENT_USER(), VERSION()"
# A lock named by a random nonce: taken by the user's session, looked for by the admin's.
TAKE_LOCK = "SELECT GET_LOCK(%s, 0)"
RELEASE_LOCK = "SELECT RELEASE_LOCK(%s)"
# On the admin's server: the session holding the lock, its user (the admin needs PROCESS to
# see other users' sessions), and whether an anonymous account exists (PROCESSLIST.USER is
# the name the client sent, which an anonymous account accepts whatever it is).
LOCK_HOLDER = (
    "SELECT IS_USED_LOCK(%s), (SELECT p.USER FROM information_schema.PROCESSLIST p "
    "WHERE p.ID = IS_USED_LOCK(%s)), (SELECT COUNT(*) FROM mysql.user WHERE User = '')"
)
# The password validation plugins' settings, read only to explain errors 1819 and 1290.
VALIDATION_SETTINGS = (
    "SHOW GLOBAL VARIABLES WHERE Variable_name LIKE 'simple\\_password\\_check%%' "
    "OR Variable_name LIKE 'cracklib\\_password\\_check%%' "
    "OR Variable_name LIKE 'validate\\_password%%' "
    "OR Variable_name = 'strict_password_validation'"
)


def version() -> Sql:
    """The server's version string."""
    return "SELECT VERSION()", ()


def own_grants() -> Sql:
    """The session's own account as GRANT lines (no privilege needed)."""
    return "SHOW GRANTS", ()


def native_hash(password: str) -> str:
    """What mysql_native_password stores: `*` and the hex of SHA1(SHA1(the UTF-8 bytes))."""
    inner = hashlib.sha1(password.encode(), usedforsecurity=False).digest()
    return "*" + hashlib.sha1(inner, usedforsecurity=False).hexdigest().upper()


def _hashed_here(server: Server, plugin: str) -> bool:
    """MariaDB writes statements to its general and slow logs as sent: for its native plugin
    the hash is computed here, so the plaintext never reaches the server. (MySQL rewrites
    passwords out of its logs; other plugins need the plaintext.)"""
    return server.mariadb and plugin in ("", NATIVE)


def own_password(server: Server, new: str, current: str, plugin: str = "") -> Sql:
    """The session's own account sets its password; needs no privilege.

    MariaDB: SET PASSWORD, with the native hash when `plugin` is mysql_native_password (its
    ALTER USER needs CREATE USER). MySQL 8.0.13+: ALTER USER CURRENT_USER() with REPLACE, which
    satisfies PASSWORD REQUIRE CURRENT; MySQL 5.7.6+: without REPLACE; older: SET PASSWORD.
    """
    if server.mariadb and plugin == NATIVE:
        return "SET PASSWORD = %s", (native_hash(new),)
    if server.mariadb or server.version < (5, 7, 6):
        return "SET PASSWORD = PASSWORD(%s)", (new,)
    if server.version >= (8, 0, 13):
        return "ALTER USER CURRENT_USER() IDENTIFIED BY %s REPLACE %s", (new, current)
    return "ALTER USER CURRENT_USER() IDENTIFIED BY %s", (new,)


def set_password(server: Server, user: str, host: str, plugin: str, new: str) -> Sql:
    """An admin sets `user@host`'s password, keeping its authentication plugin.

    MySQL 5.7.6+ and MariaDB 10.4+: ALTER USER naming the plugin, which needs CREATE USER (a
    MariaDB ALTER USER ... IDENTIFIED BY would switch the plugin to mysql_native_password).
    Older servers: SET PASSWORD FOR, which needs UPDATE on the mysql database.
    """
    account = (user, host)
    if server.mariadb:
        hashed = _hashed_here(server, plugin)
        if server.version >= (10, 4, 0):
            using = "%s" if hashed else "PASSWORD(%s)"
            return f"ALTER USER %s@%s IDENTIFIED VIA %s USING {using}", (
                *account,
                plugin or NATIVE,
                native_hash(new) if hashed else new,
            )
        if hashed:
            return "SET PASSWORD FOR %s@%s = %s", (*account, native_hash(new))
    if server.mariadb or server.version < (5, 7, 6):
        return "SET PASSWORD FOR %s@%s = PASSWORD(%s)", (*account, new)
    if plugin:
        return "ALTER USER %s@%s IDENTIFIED WITH %s BY %s", (*account, plugin, new)
    return "ALTER USER %s@%s IDENTIFIED BY %s", (*account, new)


# ------------------------------------------------------------------ accounts

# The clone mark's JSON path (a constant: never a value from the secret or the server).
_MARK_PATH = f"'$.{MARK_KEY}'"


def accounts(server: Server, user: str) -> Sql:
    """(host, plugin, authentication string) of every account row of `user`, roles excluded."""
    if server.mariadb and server.has_roles:
        return (
            "SELECT Host, plugin, authentication_string FROM mysql.user "
            "WHERE User = %s AND is_role = 'N' ORDER BY Host",
            (user,),
        )
    return (
        "SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = %s ORDER BY Host",
        (user,),
    )


def create_user(server: Server, user: str, host: str, plugin: str, password: str) -> Sql:
    """Create `user@host` with `password` under `plugin` (the server's default when empty);
    on MariaDB with the native plugin, from the hash computed here."""
    account = (user, host)
    if server.mariadb and _hashed_here(server, plugin):
        if server.version >= (10, 4, 0):
            return "CREATE USER %s@%s IDENTIFIED VIA %s USING %s", (
                *account,
                NATIVE,
                native_hash(password),
            )
        return "CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", (*account, native_hash(password))
    if plugin and server.at_least((10, 4, 0), (5, 7, 6)):
        if server.mariadb:
            return "CREATE USER %s@%s IDENTIFIED VIA %s USING PASSWORD(%s)", (
                *account,
                plugin,
                password,
            )
        return "CREATE USER %s@%s IDENTIFIED WITH %s BY %s", (*account, plugin, password)
    return "CREATE USER %s@%s IDENTIFIED BY %s", (*account, password)


def create_user_like(server: Server, user: str, host: str, plugin: str, auth: str) -> Sql:
    """Create `user@host` with another row's plugin and stored hash (same password)."""
    if server.mariadb:
        return "CREATE USER %s@%s IDENTIFIED VIA %s USING %s", (user, host, plugin, auth)
    return "CREATE USER %s@%s IDENTIFIED WITH %s AS %s", (user, host, plugin, auth)


def with_mark(statement: Sql, base: str) -> Sql:
    """MySQL 8.0.21+: a CREATE USER with smrotate's clone mark as the account's ATTRIBUTE."""
    text, params = statement
    return text + " ATTRIBUTE %s", (*params, json.dumps({MARK_KEY: base}))


def mark_row(user: str, host: str, base: str) -> Sql:
    """MariaDB 10.4+: put smrotate's clone mark into `user@host`'s JSON in mysql.global_priv.

    No account statement can write a key there (CREATE USER, ALTER USER and GRANT keep keys
    they do not know, RENAME USER moves them): only UPDATE on mysql.global_priv can.
    """
    return (
        f"UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, {_MARK_PATH}, %s) "  # noqa: S608
        "WHERE User = %s AND Host = %s",
        (base, user, host),
    )


def clone_marks(server: Server, user: str) -> Sql:
    """(host, the base named by smrotate's mark or NULL) of every row of `user`."""
    if server.mariadb:
        return (
            f"SELECT Host, JSON_VALUE(Priv, {_MARK_PATH}) "  # noqa: S608
            "FROM mysql.global_priv WHERE User = %s",
            (user,),
        )
    return (
        f"SELECT HOST, JSON_UNQUOTE(JSON_EXTRACT(ATTRIBUTE, {_MARK_PATH})) "  # noqa: S608
        "FROM information_schema.USER_ATTRIBUTES WHERE USER = %s",
        (user,),
    )


def rename_user(user: str, host: str, new: str) -> Sql:
    """Rename `user@host` to `new@host`."""
    return "RENAME USER %s@%s TO %s@%s", (user, host, new, host)


def drop_user(user: str, host: str) -> Sql:
    """Drop the account row `user@host`."""
    return "DROP USER %s@%s", (user, host)


_MARIADB_LOCKED = (
    "(SELECT IF(JSON_EXTRACT(g.Priv, '$.account_locked') = 'true', 'Y', 'N') "
    "FROM mysql.global_priv g WHERE g.User = mysql.user.User AND g.Host = mysql.user.Host)"
)


def account_options(server: Server, user: str, host: str) -> Sql:
    """REQUIRE, resource limits, ACCOUNT LOCK and (MariaDB) MAX_STATEMENT_TIME of `user@host`;
    MySQL has no per-account statement time: '0'."""
    locked = "account_locked" if server.version >= (5, 7, 6) else "'N'"  # MySQL
    if server.mariadb:  # MariaDB 10.4+ keeps it in mysql.global_priv's JSON only
        locked = _MARIADB_LOCKED if server.version >= (10, 4, 0) else "'N'"
    time = "max_statement_time" if server.mariadb and server.version >= (10, 1, 1) else "0"
    columns = (
        "ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, "
        f"max_connections, max_user_connections, {locked}, {time}"
    )
    return f"SELECT {columns} FROM mysql.user WHERE User = %s AND Host = %s", (user, host)  # noqa: S608


def require(user: str, host: str, required: tuple[str, str, str, str]) -> Sql:
    """Set `user@host`'s REQUIRE from mysql.user's (ssl_type, cipher, issuer, subject)."""
    ssl_type, cipher, issuer, subject = required
    if ssl_type == "ANY":
        return "ALTER USER %s@%s REQUIRE SSL", (user, host)
    if ssl_type == "X509":
        return "ALTER USER %s@%s REQUIRE X509", (user, host)
    given = [(k, v) for k, v in (("CIPHER", cipher), ("ISSUER", issuer), ("SUBJECT", subject)) if v]
    if ssl_type == "SPECIFIED" and given:
        clause = " AND ".join(f"{k} %s" for k, _ in given)
        return f"ALTER USER %s@%s REQUIRE {clause}", (user, host, *(v for _, v in given))
    return "ALTER USER %s@%s REQUIRE NONE", (user, host)


def limits(user: str, host: str, values: tuple[int, int, int, int]) -> Sql:
    """Set `user@host`'s four resource limits (0 is none)."""
    return (
        "ALTER USER %s@%s WITH MAX_QUERIES_PER_HOUR %s MAX_UPDATES_PER_HOUR %s "
        "MAX_CONNECTIONS_PER_HOUR %s MAX_USER_CONNECTIONS %s",
        (user, host, *values),
    )


def statement_time(user: str, host: str, seconds: Decimal) -> Sql:
    """Set `user@host`'s MAX_STATEMENT_TIME (MariaDB; 0 is none)."""
    return "ALTER USER %s@%s WITH MAX_STATEMENT_TIME %s", (user, host, seconds)


def account_lock(user: str, host: str, locked: bool) -> Sql:
    """ACCOUNT LOCK or ACCOUNT UNLOCK `user@host`."""
    return f"ALTER USER %s@%s ACCOUNT {'LOCK' if locked else 'UNLOCK'}", (user, host)


def show_grants(user: str, host: str) -> Sql:
    """`user@host`'s privileges as GRANT statements (parsed by grants.py)."""
    return "SHOW GRANTS FOR %s@%s", (user, host)


def show_role_grants(server: Server, role: Role) -> Sql:
    """A role's privileges as GRANT statements (MariaDB roles have no host)."""
    if server.mariadb:
        return "SHOW GRANTS FOR %s", (role[0],)
    return "SHOW GRANTS FOR %s@%s", role


def admin_session() -> Sql:
    """For this session only: SHOW GRANTS quotes identifiers with backquotes (not ANSI double
    quotes, not bare), and backslashes escape in strings, as pymysql's quoting expects."""
    return "SET SESSION sql_quote_show_create = 1, sql_mode = ''", ()


# ------------------------------------------------------------------ roles


def granted_roles(server: Server, user: str, host: str) -> Sql:
    """(role name, role host, admin option 'Y'/'N') of the roles granted to `user@host`."""
    if server.mariadb:
        return (
            "SELECT Role, '', Admin_option FROM mysql.roles_mapping WHERE User = %s AND Host = %s",
            (user, host),
        )
    return (
        "SELECT FROM_USER, FROM_HOST, WITH_ADMIN_OPTION FROM mysql.role_edges "
        "WHERE TO_USER = %s AND TO_HOST = %s",
        (user, host),
    )


def default_roles(server: Server, user: str, host: str) -> Sql:
    """(role name, role host) of `user@host`'s default roles."""
    if server.mariadb:
        return (
            "SELECT default_role, '' FROM mysql.user "
            "WHERE User = %s AND Host = %s AND default_role <> ''",
            (user, host),
        )
    return (
        "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
        "WHERE USER = %s AND HOST = %s",
        (user, host),
    )


def _role(server: Server, role: Role) -> tuple[str, tuple[str, ...]]:
    return ("%s", (role[0],)) if server.mariadb else ("%s@%s", role)


def grant_role(server: Server, role: Role, user: str, host: str, admin: bool) -> Sql:
    """Grant `role` to `user@host`, WITH ADMIN OPTION when `admin`."""
    text, params = _role(server, role)
    option = " WITH ADMIN OPTION" if admin else ""
    return f"GRANT {text} TO %s@%s{option}", (*params, user, host)


def revoke_role(server: Server, role: Role, user: str, host: str) -> Sql:
    """Revoke `role` from `user@host`."""
    text, params = _role(server, role)
    return f"REVOKE {text} FROM %s@%s", (*params, user, host)


def set_default_roles(server: Server, roles: Iterable[Role], user: str, host: str) -> Sql:
    """Make `roles` `user@host`'s default roles (none when empty); MariaDB allows one."""
    chosen = sorted(roles)
    if server.mariadb:
        if len(chosen) > 1:
            raise ValueError("MariaDB accounts have at most one default role")
        if not chosen:
            return "SET DEFAULT ROLE NONE FOR %s@%s", (user, host)
        return "SET DEFAULT ROLE %s FOR %s@%s", (chosen[0][0], user, host)
    if not chosen:
        return "ALTER USER %s@%s DEFAULT ROLE NONE", (user, host)
    listed = ", ".join("%s@%s" for _ in chosen)
    return f"ALTER USER %s@%s DEFAULT ROLE {listed}", (
        user,
        host,
        *(part for role in chosen for part in role),
    )
