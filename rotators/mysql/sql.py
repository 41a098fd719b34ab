"""The server (MySQL or MariaDB, and its version) and its account SQL as pymysql templates:
every value, user, host, role and plugin a `%s` parameter, other identifiers
`quote_identifier`'s, `%` written `%%`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smrotate.errors import TargetError

Sql = tuple[str, tuple[Any, ...]]
Role = tuple[str, str]  # (name, host); MariaDB roles have no host: ""

MARIADB, MYSQL = "mariadb", "mysql"
NATIVE = "mysql_native_password"
MARK_KEY = "smrotate_clone_of"  # the clone mark: a key of the account's JSON (docs/mysql.md)
_AURORA_BASE = {1: (5, 6, 10), 2: (5, 7, 12), 3: (8, 0, 23)}  # the MySQL of Aurora MySQL 1-3
USERNAME_LIMITS = {MYSQL: 32, "aurora-mysql": 32, MARIADB: 80}  # by engine, in characters
PASSWORD_PLUGINS = {  # the plugins whose accounts have a password
    MARIADB: frozenset({NATIVE, "ed25519", "parsec", ""}),
    MYSQL: frozenset({NATIVE, "caching_sha2_password", "sha256_password", ""}),
}


@dataclass(frozen=True)
class Server:
    """The server's flavour (`mariadb` or `mysql`, Aurora MySQL included) and version."""

    flavour: str
    version: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> Server:
        """Read `SELECT VERSION()` (forms: docs/mysql.md); TargetError without a version number."""
        lowered = text.strip().lower()
        flavour = MARIADB if "mariadb" in lowered else MYSQL
        if flavour == MARIADB:
            lowered = lowered.removeprefix("5.5.5-")  # the prefix MariaDB adds for old clients
        found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", lowered)
        if found is None:
            raise TargetError(f"the server's version {text[:80]!r} holds no version number")
        version = (int(found[1]), int(found[2]), int(found[3] or 0))
        if (aurora := re.search(r"mysql_aurora\.(\d+)", lowered)) and not found[3]:
            version = _AURORA_BASE.get(int(aurora[1]), version)
        return cls(flavour, version)

    @property
    def mariadb(self) -> bool:
        return self.flavour == MARIADB

    def __str__(self) -> str:
        return ("MariaDB " if self.mariadb else "MySQL ") + ".".join(map(str, self.version))

    def at_least(self, mariadb: tuple[int, ...], mysql: tuple[int, ...]) -> bool:
        """True when the version reaches `mariadb` (on MariaDB) or `mysql` (on MySQL)."""
        return self.version >= (mariadb if self.mariadb else mysql)

    @property
    def username_limit(self) -> int:
        """The longest user name this server accepts, in characters (16 before 10.0 and 5.7.8)."""
        return USERNAME_LIMITS[self.flavour] if self.at_least((10, 0, 0), (5, 7, 8)) else 16

    def check_username(self, name: str) -> None:
        """TargetError when `name` is longer than this server allows."""
        if len(name) > (limit := self.username_limit):
            raise TargetError(
                f"user name {name!r} has {len(name)} characters; this {self} server allows "
                f"{limit}: set USERNAME_CHARACTER_LIMIT to {limit} or less"
            )

    @property
    def has_roles(self) -> bool:
        """Roles exist from MariaDB 10.0.5 and MySQL 8.0."""
        return self.at_least((10, 0, 5), (8, 0, 0))

    @property
    def dual_passwords(self) -> bool:
        """MySQL 8.0.14+ keeps a secondary password (RETAIN CURRENT PASSWORD); MariaDB cannot."""
        return not self.mariadb and self.version >= (8, 0, 14)

    @property
    def marks_clones(self) -> bool:
        """MariaDB 10.4+ (mysql.global_priv's JSON) and MySQL 8.0.21+ (attributes) can."""
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


SESSION_FACTS = "SELECT CURRENT_USER(), VERSION()"  # the account the server matched, version
OWN_GRANTS = "SHOW GRANTS"  # the session's own account (needs no privilege)
# The same-server proof (docs/mysql.md): a lock named by a random nonce, the session holding
# it, that session's user (seen with PROCESS only), and whether an anonymous account exists.
TAKE_LOCK = "SELECT GET_LOCK(%s, 0)"
RELEASE_LOCK = "SELECT RELEASE_LOCK(%s)"
LOCK_HOLDER = (
    "SELECT IS_USED_LOCK(%s), (SELECT p.USER FROM information_schema.PROCESSLIST p "
    "WHERE p.ID = IS_USED_LOCK(%s)), (SELECT COUNT(*) FROM mysql.user WHERE User = '')"
)
VALIDATION_SETTINGS = (  # the password validation plugins', read to explain refusals only
    "SHOW GLOBAL VARIABLES WHERE Variable_name LIKE 'simple\\_password\\_check%%' OR "
    "Variable_name LIKE 'cracklib\\_password\\_check%%' OR Variable_name LIKE "
    "'validate\\_password%%' OR Variable_name = 'strict_password_validation'"
)
# The admin's session: SHOW GRANTS quotes identifiers with backquotes, backslashes escape.
ADMIN_SESSION = "SET SESSION sql_quote_show_create = 1, sql_mode = ''"
# (host, plugin, stored hash) of every row of a user, roles left out (MariaDB keeps them here).
_ACCOUNTS = "SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = %s"
ACCOUNTS = _ACCOUNTS + " ORDER BY Host"
ACCOUNTS_NOT_ROLES = _ACCOUNTS + " AND is_role = 'N' ORDER BY Host"
SHOW_GRANTS = "SHOW GRANTS FOR %s@%s"
DROP_USER = "DROP USER %s@%s"
RENAME_USER = "RENAME USER %s@%s TO %s@%s"  # user, host, new name, host
LIMITS = (  # user, host, then the four limits (0 is none)
    "ALTER USER %s@%s WITH MAX_QUERIES_PER_HOUR %s MAX_UPDATES_PER_HOUR %s "
    "MAX_CONNECTIONS_PER_HOUR %s MAX_USER_CONNECTIONS %s"
)
STATEMENT_TIME = "ALTER USER %s@%s WITH MAX_STATEMENT_TIME %s"  # MariaDB; 0 is none
ACCOUNT_LOCK = {True: "ALTER USER %s@%s ACCOUNT LOCK", False: "ALTER USER %s@%s ACCOUNT UNLOCK"}
CREATE_USER_LIKE = {  # user, host, and another row's plugin and stored hash
    MARIADB: "CREATE USER %s@%s IDENTIFIED VIA %s USING %s",
    MYSQL: "CREATE USER %s@%s IDENTIFIED WITH %s AS %s",
}
# The clone mark on MariaDB 10.4+ (base, user, host), which only UPDATE writes (docs/mysql.md).
MARK_ROW = (
    f"UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.{MARK_KEY}', %s) "  # noqa: S608
    "WHERE User = %s AND Host = %s"
)
CLONE_MARKS = {  # (host, the base the clone mark names, or NULL) of every row of a user
    MARIADB: f"SELECT Host, JSON_VALUE(Priv, '$.{MARK_KEY}') "  # noqa: S608
    "FROM mysql.global_priv WHERE User = %s",
    MYSQL: f"SELECT HOST, JSON_UNQUOTE(JSON_EXTRACT(ATTRIBUTE, '$.{MARK_KEY}')) "  # noqa: S608
    "FROM information_schema.USER_ATTRIBUTES WHERE USER = %s",
}
GRANTED_ROLES = {  # (role name, role host, admin option 'Y'/'N') granted to user@host
    MARIADB: "SELECT Role, '', Admin_option FROM mysql.roles_mapping WHERE User = %s AND Host = %s",
    MYSQL: "SELECT FROM_USER, FROM_HOST, WITH_ADMIN_OPTION FROM mysql.role_edges "
    "WHERE TO_USER = %s AND TO_HOST = %s",
}
# A role `{}` (see with_role), then user and host.
GRANT_ROLE = {False: "GRANT {} TO %s@%s", True: "GRANT {} TO %s@%s WITH ADMIN OPTION"}
REVOKE_ROLE = "REVOKE {} FROM %s@%s"
ROLE_GRANTS = "SHOW GRANTS FOR {}"
DEFAULT_ROLES = {  # (role name, role host) of user@host's default roles
    MARIADB: "SELECT default_role, '' FROM mysql.user "
    "WHERE User = %s AND Host = %s AND default_role <> ''",
    MYSQL: "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
    "WHERE USER = %s AND HOST = %s",
}
_MARIADB_LOCKED = (  # MariaDB 10.4+ keeps ACCOUNT LOCK in mysql.global_priv's JSON only
    "(SELECT IF(JSON_EXTRACT(g.Priv, '$.account_locked') = 'true', 'Y', 'N') "
    "FROM mysql.global_priv g WHERE g.User = mysql.user.User AND g.Host = mysql.user.Host)"
)


def account_options(server: Server) -> str:
    """(user, host): one row's REQUIRE (4 columns), 4 limits, ACCOUNT LOCK ('Y'/'N') and
    MAX_STATEMENT_TIME (MariaDB 10.1.1+; '0' elsewhere)."""
    locked = _MARIADB_LOCKED if server.mariadb else "account_locked"
    locked = locked if server.at_least((10, 4, 0), (5, 7, 6)) else "'N'"
    time = "max_statement_time" if server.mariadb and server.version >= (10, 1, 1) else "0"
    return (
        "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, "  # noqa: S608
        f"max_connections, max_user_connections, {locked}, {time} FROM mysql.user "
        "WHERE User = %s AND Host = %s"
    )


def own_password(server: Server, new: str, current: str, plugin: str = "") -> Sql:
    """The session's own account sets its password with no privilege (forms: docs/mysql.md)."""
    if server.mariadb and plugin == NATIVE:
        return "SET PASSWORD = %s", (native_hash(new),)
    if server.mariadb or server.version < (5, 7, 6):
        return "SET PASSWORD = PASSWORD(%s)", (new,)
    if server.version >= (8, 0, 13):
        return "ALTER USER CURRENT_USER() IDENTIFIED BY %s REPLACE %s", (new, current)
    return "ALTER USER CURRENT_USER() IDENTIFIED BY %s", (new,)


NO_DUAL_PASSWORDS = (
    "MariaDB keeps one password per account (dual passwords need MySQL 8.0.14 or later); use "
    "alternating-pair (two users, no admin) or alternating-users for zero downtime on MariaDB"
)
INCORRECT_CURRENT_PASSWORD = 3891  # REPLACE named a password that is not the account's primary


def dual_password(server: Server, new: str, current: str) -> Sql:
    """MySQL 8.0.14+: the session's own account gets `new` and keeps `current` as its secondary
    password (the older secondary is dropped). REPLACE makes the server refuse it (3891) once
    `current` is no longer the primary, so it never runs twice. Needs APPLICATION_PASSWORD_ADMIN.
    TargetError on servers without dual passwords."""
    if not server.dual_passwords:
        raise TargetError(
            f"this {server} server cannot keep two passwords: "
            + (NO_DUAL_PASSWORDS if server.mariadb else "dual passwords need MySQL 8.0.14+")
        )
    return "ALTER USER CURRENT_USER() IDENTIFIED BY %s REPLACE %s RETAIN CURRENT PASSWORD", (
        new,
        current,
    )


def _with_password(server: Server, start: str, old: tuple[str, str], plugin: str, new: str) -> Sql:
    """`start` (`... %s@%s`) and the clause setting password `new` keeping `plugin` (MariaDB 10.4+,
    MySQL 5.7.6+), else `old` (its forms for a hash, a password); parameters after user, host."""
    # MariaDB logs statements as sent: its native plugin's hash is computed here (docs/mysql.md).
    hashed = server.mariadb and plugin in ("", NATIVE)
    secret = native_hash(new) if hashed else new
    if not server.at_least((10, 4, 0), (5, 7, 6)):
        return old[0] if hashed else old[1], (secret,)
    if server.mariadb:  # its IDENTIFIED BY would switch the plugin to mysql_native_password
        using = "%s" if hashed else "PASSWORD(%s)"
        return f"{start} IDENTIFIED VIA %s USING {using}", (plugin or NATIVE, secret)
    if plugin:
        return f"{start} IDENTIFIED WITH %s BY %s", (plugin, new)
    return f"{start} IDENTIFIED BY %s", (new,)


def set_password(server: Server, user: str, host: str, plugin: str, new: str) -> Sql:
    """An admin sets `user@host`'s password, keeping its plugin: ALTER USER, else SET PASSWORD."""
    old = ("SET PASSWORD FOR %s@%s = %s", "SET PASSWORD FOR %s@%s = PASSWORD(%s)")
    text, params = _with_password(server, "ALTER USER %s@%s", old, plugin, new)
    return text, (user, host, *params)


def create_user(server: Server, user: str, host: str, plugin: str, password: str) -> Sql:
    """Create `user@host` with `password` under `plugin` (the server's default when empty)."""
    old = ("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", "CREATE USER %s@%s IDENTIFIED BY %s")
    text, params = _with_password(server, "CREATE USER %s@%s", old, plugin, password)
    return text, (user, host, *params)


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


def with_role(server: Server, role: Role, statement: str, *params: Any) -> Sql:
    """`statement` (GRANT_ROLE, REVOKE_ROLE, ROLE_GRANTS) naming `role`, then `params`."""
    text, named = ("%s", role[:1]) if server.mariadb else ("%s@%s", role)  # MariaDB: no host
    return statement.format(text), (*named, *params)


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
