"""The server (MySQL or MariaDB, and its version) and the account SQL each one needs.

Every statement is a pymysql template: values, user names, hosts, roles and plugin names are
`%s` parameters, database, table and column names go through `quote_identifier`, and a literal
`%` is written `%%`. Constant statements are constants (their parameters in a comment); the
functions build the statements that depend on the server or on what they set.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smrotate.errors import Failure, TargetError

Sql = tuple[str, tuple[Any, ...]]
Role = tuple[str, str]  # (name, host); MariaDB roles have no host: ""

MARIADB, MYSQL = "mariadb", "mysql"
NATIVE = "mysql_native_password"
MARK_KEY = "smrotate_clone_of"  # the clone mark: a key of the account's JSON (docs/mysql.md)
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
        """Read `SELECT VERSION()` ("10.11.6-MariaDB-0+deb12u1", "5.5.5-10.11.6-MariaDB",
        "8.0.mysql_aurora.3.05.2"); TargetError when it holds no version number."""
        lowered = text.strip().lower()
        flavour = MARIADB if "mariadb" in lowered else MYSQL
        if flavour == MARIADB:
            lowered = lowered.removeprefix("5.5.5-")  # the prefix MariaDB adds for old clients
        found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", lowered)
        if found is None:
            raise TargetError(
                f"the server's version {text[:80]!r} holds no version number", Failure.OTHER
            )
        major, minor, patch = int(found[1]), int(found[2]), int(found[3] or 0)
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
        return (80 if self.mariadb else 32) if self.at_least((10, 0, 0), (5, 7, 8)) else 16

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
        """A clone can carry smrotate's mark: MariaDB 10.4+ (mysql.global_priv's JSON), MySQL
        8.0.21+ (account attributes)."""
        return self.at_least((10, 4, 0), (8, 0, 21))


def quote_identifier(name: str) -> str:
    """A database, table or column name as a backquoted identifier, `%` escaped for pymysql."""
    if "\x00" in name:
        raise ValueError("an identifier cannot contain NUL")
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


def native_hash(password: str) -> str:
    """What mysql_native_password stores: `*` and the hex of SHA1(SHA1(the UTF-8 bytes))."""
    inner = hashlib.sha1(password.encode(), usedforsecurity=False).digest()
    return "*" + hashlib.sha1(inner, usedforsecurity=False).hexdigest().upper()


# ------------------------------------------------------------------ sessions and guards

VERSION = "SELECT VERSION()"
SESSION_FACTS = "SELECT CURRENT_USER(), VERSION()"  # the account the server matched, version
OWN_GRANTS = "SHOW GRANTS"  # the session's own account (needs no privilege)
# A lock named by a random nonce (the parameter): taken by the user's session, looked for by
# the admin's, with the session holding it, that session's user (seen with PROCESS only), and
# whether an anonymous account exists (PROCESSLIST.USER is the name the client sent).
TAKE_LOCK = "SELECT GET_LOCK(%s, 0)"
RELEASE_LOCK = "SELECT RELEASE_LOCK(%s)"
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
# For the admin's session: SHOW GRANTS quotes identifiers with backquotes, and backslashes
# escape in strings, as pymysql's quoting and grants.tokenize expect.
ADMIN_SESSION = "SET SESSION sql_quote_show_create = 1, sql_mode = ''"

# ------------------------------------------------------------------ accounts (user, host, ...)

# (host, plugin, authentication string) of every row of a user; MariaDB 10.0.5+ keeps roles
# in mysql.user too: ACCOUNTS_NOT_ROLES leaves them out.
ACCOUNTS = (
    "SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = %s ORDER BY Host"
)
ACCOUNTS_NOT_ROLES = ACCOUNTS.replace(" ORDER", " AND is_role = 'N' ORDER")
SHOW_GRANTS = "SHOW GRANTS FOR %s@%s"
DROP_USER = "DROP USER %s@%s"
RENAME_USER = "RENAME USER %s@%s TO %s@%s"  # user, host, new name, host
LIMITS = (
    "ALTER USER %s@%s WITH MAX_QUERIES_PER_HOUR %s MAX_UPDATES_PER_HOUR %s "
    "MAX_CONNECTIONS_PER_HOUR %s MAX_USER_CONNECTIONS %s"
)
STATEMENT_TIME = "ALTER USER %s@%s WITH MAX_STATEMENT_TIME %s"  # MariaDB; 0 is none
ACCOUNT_LOCK = {True: "ALTER USER %s@%s ACCOUNT LOCK", False: "ALTER USER %s@%s ACCOUNT UNLOCK"}
# Another row's plugin and stored hash: user, host, plugin, hash.
CREATE_USER_LIKE = {
    MARIADB: "CREATE USER %s@%s IDENTIFIED VIA %s USING %s",
    MYSQL: "CREATE USER %s@%s IDENTIFIED WITH %s AS %s",
}
# The clone mark on MariaDB 10.4+ (base, user, host): only UPDATE on mysql.global_priv writes a
# key there; CREATE USER, ALTER USER and GRANT keep keys they do not know, RENAME USER moves them.
MARK_ROW = (
    f"UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.{MARK_KEY}', %s) "  # noqa: S608
    "WHERE User = %s AND Host = %s"
)
# (host, the base named by the clone mark or NULL) of every row of a user.
CLONE_MARKS = {
    MARIADB: f"SELECT Host, JSON_VALUE(Priv, '$.{MARK_KEY}') "  # noqa: S608
    "FROM mysql.global_priv WHERE User = %s",
    MYSQL: f"SELECT HOST, JSON_UNQUOTE(JSON_EXTRACT(ATTRIBUTE, '$.{MARK_KEY}')) "  # noqa: S608
    "FROM information_schema.USER_ATTRIBUTES WHERE USER = %s",
}
# (role name, role host, admin option 'Y'/'N') of the roles granted to user@host.
GRANTED_ROLES = {
    MARIADB: "SELECT Role, '', Admin_option FROM mysql.roles_mapping WHERE User = %s AND Host = %s",
    MYSQL: "SELECT FROM_USER, FROM_HOST, WITH_ADMIN_OPTION FROM mysql.role_edges "
    "WHERE TO_USER = %s AND TO_HOST = %s",
}
# (role name, role host) of user@host's default roles.
DEFAULT_ROLES = {
    MARIADB: "SELECT default_role, '' FROM mysql.user "
    "WHERE User = %s AND Host = %s AND default_role <> ''",
    MYSQL: "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
    "WHERE USER = %s AND HOST = %s",
}
_MARIADB_LOCKED = (
    "(SELECT IF(JSON_EXTRACT(g.Priv, '$.account_locked') = 'true', 'Y', 'N') "
    "FROM mysql.global_priv g WHERE g.User = mysql.user.User AND g.Host = mysql.user.Host)"
)


def account_options(server: Server) -> str:
    """(user, host): REQUIRE's four columns, the four limits, ACCOUNT LOCK ('Y'/'N') and
    MAX_STATEMENT_TIME (MariaDB 10.1.1+; '0' elsewhere) of one row."""
    locked = "account_locked" if server.version >= (5, 7, 6) else "'N'"  # MySQL
    if server.mariadb:  # MariaDB 10.4+ keeps it in mysql.global_priv's JSON only
        locked = _MARIADB_LOCKED if server.version >= (10, 4, 0) else "'N'"
    time = "max_statement_time" if server.mariadb and server.version >= (10, 1, 1) else "0"
    return (
        "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, "  # noqa: S608
        f"max_connections, max_user_connections, {locked}, {time} FROM mysql.user "
        "WHERE User = %s AND Host = %s"
    )


# ------------------------------------------------------------------ passwords


def _hashed_here(server: Server, plugin: str) -> bool:
    """MariaDB logs statements as sent: for its native plugin the hash is computed here, so
    the plaintext never reaches the server (MySQL rewrites passwords out of its logs)."""
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
    """An admin sets `user@host`'s password, keeping its plugin: ALTER USER naming the plugin
    (MySQL 5.7.6+, MariaDB 10.4+: needs CREATE USER), else SET PASSWORD FOR (needs UPDATE on
    the mysql database). MariaDB's ALTER USER ... IDENTIFIED BY would switch the plugin."""
    if server.mariadb:
        hashed = _hashed_here(server, plugin)
        secret = native_hash(new) if hashed else new
        if server.version >= (10, 4, 0):
            using = "%s" if hashed else "PASSWORD(%s)"
            text = f"ALTER USER %s@%s IDENTIFIED VIA %s USING {using}"
            return text, (user, host, plugin or NATIVE, secret)
        if hashed:
            return "SET PASSWORD FOR %s@%s = %s", (user, host, secret)
    if server.mariadb or server.version < (5, 7, 6):
        return "SET PASSWORD FOR %s@%s = PASSWORD(%s)", (user, host, new)
    if plugin:
        return "ALTER USER %s@%s IDENTIFIED WITH %s BY %s", (user, host, plugin, new)
    return "ALTER USER %s@%s IDENTIFIED BY %s", (user, host, new)


def create_user(server: Server, user: str, host: str, plugin: str, password: str) -> Sql:
    """Create `user@host` with `password` under `plugin` (the server's default when empty);
    on MariaDB with the native plugin, from the hash computed here."""
    if _hashed_here(server, plugin):
        if server.version >= (10, 4, 0):
            return "CREATE USER %s@%s IDENTIFIED VIA %s USING %s", (
                user, host, NATIVE, native_hash(password)
            )  # fmt: skip
        return "CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, native_hash(password))
    if plugin and server.at_least((10, 4, 0), (5, 7, 6)):
        via = "VIA %s USING PASSWORD(%s)" if server.mariadb else "WITH %s BY %s"
        return f"CREATE USER %s@%s IDENTIFIED {via}", (user, host, plugin, password)
    return "CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password)


def with_mark(statement: Sql, base: str) -> Sql:
    """MySQL 8.0.21+: a CREATE USER with smrotate's clone mark as the account's ATTRIBUTE."""
    text, params = statement
    return text + " ATTRIBUTE %s", (*params, json.dumps({MARK_KEY: base}))


def require(user: str, host: str, required: tuple[str, str, str, str]) -> Sql:
    """Set `user@host`'s REQUIRE from mysql.user's (ssl_type, cipher, issuer, subject)."""
    ssl_type, cipher, issuer, subject = required
    given = [(k, v) for k, v in (("CIPHER", cipher), ("ISSUER", issuer), ("SUBJECT", subject)) if v]
    clause = {"ANY": "SSL", "X509": "X509"}.get(ssl_type, "NONE")
    if ssl_type == "SPECIFIED" and given:
        clause = " AND ".join(f"{k} %s" for k, _ in given)
        return f"ALTER USER %s@%s REQUIRE {clause}", (user, host, *(v for _, v in given))
    return f"ALTER USER %s@%s REQUIRE {clause}", (user, host)


# ------------------------------------------------------------------ roles


def _role(server: Server, role: Role) -> Sql:
    return ("%s", role[:1]) if server.mariadb else ("%s@%s", role)


def show_role_grants(server: Server, role: Role) -> Sql:
    """A role's privileges as GRANT statements (MariaDB roles have no host)."""
    text, params = _role(server, role)
    return "SHOW GRANTS FOR " + text, params


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
    listed = ", ".join("%s@%s" for _ in chosen) or "NONE"
    return f"ALTER USER %s@%s DEFAULT ROLE {listed}", (user, host, *(p for r in chosen for p in r))
