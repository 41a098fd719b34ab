"""An account's privileges on MySQL and MariaDB: parsed from SHOW GRANTS, compared, re-granted.

`parse_grants(lines)` reads SHOW GRANTS output with a tokenizer (backquoted identifiers,
quoted strings, words) into `Grants`: privileges per level (global, database, table, routine,
proxy) with their columns, the grant option per level, MySQL 8's dynamic privileges held with
grant option, and MySQL's partial revokes. Role grants and SET DEFAULT ROLE lines are skipped:
the catalogue gives those (clone.py). `admin_level(grants)` says why an account's privileges
are admin-level, if they are. `plan_privileges(want, have, user, host)` returns the
statements that make an account holding `have` hold exactly `want`. They are built from the
model: privilege names checked against a keyword pattern, identifiers quoted, the account and
proxied accounts as parameters. The server's text is never pasted back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from smrotate.rotators.mysql.sql import Sql, quote_identifier

GLOBAL_KIND, DATABASE, TABLE, PROXY_KIND = "global", "database", "table", "proxy"
ROUTINES = ("PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY")


class GrantParseError(ValueError):
    """A SHOW GRANTS line this module cannot read; the message never quotes the line."""


@dataclass(frozen=True, order=True)
class Level:
    """What a privilege applies to: `kind` is global, database, table, proxy or a routine
    kind (PROCEDURE...); for proxy, `name` and `host` are the proxied account."""

    kind: str
    db: str = ""
    name: str = ""
    host: str = ""

    def rank(self) -> tuple[int, str, str, str]:
        """Order of statements: global, database, table, routine, proxy levels."""
        order = (GLOBAL_KIND, DATABASE, TABLE, *ROUTINES, PROXY_KIND)
        return (order.index(self.kind), self.db, self.name, self.host)

    def target(self) -> Sql:
        """The ON clause's object and its parameters."""
        if self.kind == GLOBAL_KIND:
            return "*.*", ()
        if self.kind == DATABASE:
            return quote_identifier(self.db) + ".*", ()
        if self.kind == PROXY_KIND:
            return "%s@%s", (self.name, self.host)
        qualified = quote_identifier(self.db) + "." + quote_identifier(self.name)
        return (qualified if self.kind == TABLE else f"{self.kind} {qualified}"), ()


GLOBAL = Level(GLOBAL_KIND)


@dataclass(frozen=True, order=True)
class Privilege:
    """One privilege at a level; `column` is set for column privileges."""

    name: str
    column: str = ""


ALL = Privilege("ALL PRIVILEGES")
USAGE = Privilege("USAGE")
_NAME = re.compile(r"[A-Z][A-Z0-9_]*(?: [A-Z][A-Z0-9_]*)*\Z")


@dataclass(frozen=True)
class Grants:
    """An account's privileges; levels with no privilege are absent from `privileges`."""

    privileges: Mapping[Level, frozenset[Privilege]] = field(default_factory=dict)
    grant_option: frozenset[Level] = frozenset()
    grantable_dynamic: frozenset[str] = frozenset()  # MySQL 8: per-privilege grant option
    partial_revokes: frozenset[tuple[str, str]] = frozenset()  # MySQL: (database, privilege)

    def at(self, level: Level) -> frozenset[Privilege]:
        """The privileges held at `level`."""
        return self.privileges.get(level, frozenset())


# ------------------------------------------------------------------ tokens

_TOKEN = re.compile(
    r"""\s+
    |`(?P<ident>(?:[^`]|``)*)`
    |'(?P<string>(?:[^'\\]|\\.|'')*)'
    |"(?P<dstring>(?:[^"\\]|\\.|"")*)"
    |(?P<word>[\w$]+)
    |(?P<punct>[,.()@*=])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}


@dataclass(frozen=True)
class Token:
    """`kind` is ident, string, word or punct; `text` is unquoted and unescaped."""

    kind: str
    text: str


def _unescape(text: str, quote: str) -> str:
    text = text.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text, flags=re.DOTALL)


def tokenize(line: str) -> list[Token]:
    """The tokens of one SHOW GRANTS line; GrantParseError at a character it cannot read."""
    tokens, pos = [], 0
    while pos < len(line):
        found = _TOKEN.match(line, pos)
        if found is None:
            raise GrantParseError(f"unreadable character at position {pos}")
        pos = found.end()
        kind = found.lastgroup
        if kind is None:
            continue
        text = found[kind]
        if kind == "ident":
            text = text.replace("``", "`")
        elif kind == "string":
            text = _unescape(text, "'")
        elif kind == "dstring":
            kind, text = "string", _unescape(text, '"')
        tokens.append(Token(kind, text))
    return tokens


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise GrantParseError("the line ends too early")
        self.i += 1
        return token

    def is_word(self, *words: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.kind == "word" and token.text.upper() in words

    def is_kind(self, kind: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind

    def is_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == text

    def expect_punct(self, text: str) -> None:
        if not self.is_punct(text):
            raise GrantParseError(f"expected {text!r} at token {self.i}")
        self.i += 1

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise GrantParseError(f"expected {word} at token {self.i}")
        self.i += 1

    def name(self) -> str:
        token = self.take()
        if token.kind not in ("ident", "string", "word"):
            raise GrantParseError(f"expected a name at token {self.i - 1}")
        return token.text


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Line:
    revoke: bool
    privileges: tuple[Privilege, ...]
    level: Level
    grant_option: bool


def _privileges(reader: _Reader) -> tuple[Privilege, ...]:
    found: list[Privilege] = []
    while True:
        words = []
        while reader.is_kind("word") and not reader.is_word("ON"):
            words.append(reader.take().text.upper())
        if not words:
            raise GrantParseError(f"expected a privilege at token {reader.i}")
        name = "ALL PRIVILEGES" if words == ["ALL"] else " ".join(words)
        if reader.is_punct("("):
            reader.take()
            while True:
                found.append(Privilege(name, reader.name()))
                if reader.is_punct(")"):
                    reader.take()
                    break
                reader.expect_punct(",")
        else:
            found.append(Privilege(name))
        if reader.is_word("ON"):
            reader.take()
            return tuple(found)
        reader.expect_punct(",")


def _level(reader: _Reader, privileges: tuple[Privilege, ...]) -> Level:
    if [p.name for p in privileges] == ["PROXY"]:
        user = reader.name()
        reader.expect_punct("@")
        return Level(PROXY_KIND, name=user, host=reader.name())
    kind = TABLE
    if reader.is_word("PROCEDURE", "FUNCTION", "PACKAGE", "TABLE"):
        kind = reader.take().text.upper()
        if kind == "PACKAGE" and reader.is_word("BODY"):
            reader.take()
            kind = "PACKAGE BODY"
        kind = TABLE if kind == "TABLE" else kind
    if reader.is_punct("*"):
        reader.take()
        reader.expect_punct(".")
        reader.expect_punct("*")
        return GLOBAL
    db = reader.name()
    reader.expect_punct(".")
    if reader.is_punct("*"):
        reader.take()
        return Level(DATABASE, db)
    return Level(kind, db, reader.name())


def _skip_account(reader: _Reader) -> None:
    reader.name()
    if reader.is_punct("@"):  # a MariaDB role has no host
        reader.take()
        reader.name()


def _with_grant_option(reader: _Reader) -> bool:
    while reader.peek() is not None:
        if reader.is_word("WITH") and reader.is_word("GRANT", ahead=1):
            return reader.is_word("OPTION", ahead=2)
        reader.take()
    return False


def parse_line(line: str) -> _Line | None:
    """One SHOW GRANTS line; None for lines about roles (GRANT role TO, SET DEFAULT ROLE)."""
    reader = _Reader(tokenize(line))
    revoke = reader.is_word("REVOKE")
    if not revoke and not reader.is_word("GRANT"):
        return None
    reader.take()
    if reader.is_kind("ident") or reader.is_kind("string") or reader.peek() is None:
        return None  # GRANT `role` TO ... (role grants come from the catalogue)
    privileges = _privileges(reader)
    level = _level(reader, privileges)
    reader.expect_word("FROM" if revoke else "TO")
    _skip_account(reader)
    return _Line(revoke, privileges, level, not revoke and _with_grant_option(reader))


def identified_by_native_hash(lines: Iterable[str]) -> bool:
    """True when SHOW GRANTS says `IDENTIFIED BY PASSWORD '*...'`: MariaDB's form for an
    account that uses mysql_native_password alone. False for any other form, or a line it
    cannot read."""
    for line in lines:
        try:
            words = [t.text.upper() if t.kind == "word" else "" for t in tokenize(line)]
        except GrantParseError:
            return False
        if any(words[i : i + 3] == ["IDENTIFIED", "BY", "PASSWORD"] for i in range(len(words))):
            return True
    return False


def _is_dynamic(name: str) -> bool:
    """MySQL 8's dynamic privileges are single words with underscores (BACKUP_ADMIN)."""
    return "_" in name and " " not in name


def parse_grants(lines: Iterable[str]) -> Grants:
    """`Grants` from the lines of SHOW GRANTS FOR one account."""
    privileges: dict[Level, set[Privilege]] = {}
    grant_option: set[Level] = set()
    dynamic: set[str] = set()
    revokes: set[tuple[str, str]] = set()
    for text in lines:
        line = parse_line(text)
        if line is None:
            continue
        held = [p for p in line.privileges if p != USAGE]
        if line.revoke:
            if line.level.kind != DATABASE:
                raise GrantParseError("a partial revoke below the database level")
            revokes.update((line.level.db, p.name) for p in held)
            continue
        if held:
            privileges.setdefault(line.level, set()).update(held)
        if line.grant_option:
            if line.level == GLOBAL and held and all(_is_dynamic(p.name) for p in held):
                dynamic.update(p.name for p in held)
            else:
                grant_option.add(line.level)
    return Grants(
        {level: frozenset(held) for level, held in privileges.items()},
        frozenset(grant_option),
        frozenset(dynamic),
        frozenset(revokes),
    )


# ------------------------------------------------------------------ admin-level rights

# Global privileges that reach other accounts: create or change them (CREATE USER, SUPER, the
# grant tables through INSERT/UPDATE/DELETE or ALL), act as them (SET USER, SET_USER_ID,
# SET_ANY_DEFINER, BINLOG REPLAY, ROLE_ADMIN), protect or reconfigure the server's accounts
# (SYSTEM_USER, SYSTEM_VARIABLES_ADMIN), or read and write the server's files (FILE: the data
# files hold the password hashes). RELOAD, SHUTDOWN, PROCESS and the monitoring privileges stop
# or observe the server but give no other account's rights: they are not admin-level.
ADMIN_GLOBAL = frozenset(
    {
        "ALL PRIVILEGES", "SUPER", "CREATE USER", "FILE", "INSERT", "UPDATE", "DELETE",
        "SET USER", "BINLOG REPLAY", "SET_USER_ID", "SET_ANY_DEFINER", "ROLE_ADMIN",
        "SYSTEM_USER", "SYSTEM_VARIABLES_ADMIN",
    }
)  # fmt: skip
SYSTEM_DB = "mysql"  # the grant tables
SYSTEM_DB_READS = frozenset({"SELECT", "SHOW VIEW"})  # anything else on it is admin-level


def like(pattern: str, name: str) -> bool:
    """Whether a database-level GRANT's name (`%`, `_` wildcards, `\\` escapes) covers `name`;
    case-insensitive, as on servers with lower_case_table_names."""
    parts = re.findall(r"\\.|%|_|[^%_\\]+|\\", pattern)
    regex = "".join(
        ".*" if p == "%" else "." if p == "_" else re.escape(p[1:] if p[:1] == "\\" else p)
        for p in parts
    )
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def admin_level(grants: Grants) -> str | None:
    """Why `grants` are admin-level (see ADMIN_GLOBAL): a short reason, or None.

    Also admin-level: any privilege but SELECT and SHOW VIEW on the `mysql` database or its
    tables (a database name with wildcards that covers it counts), GRANT OPTION on `*.*` or on
    `mysql`, a dynamic privilege held with grant option, and PROXY on the anonymous account
    (which proxies as anyone) or with grant option.
    """
    for level in sorted(set(grants.privileges) | grants.grant_option, key=Level.rank):
        names = {p.name for p in grants.at(level)}
        if level.kind == PROXY_KIND:
            if level.name == "" or level in grants.grant_option:
                return f"PROXY on {level.name!r}@{level.host!r}"
            continue
        if level == GLOBAL:
            where, risky = "*.*", names & ADMIN_GLOBAL
        elif like(level.db, SYSTEM_DB) if level.kind == DATABASE else level.db == SYSTEM_DB:
            where, risky = f"the {SYSTEM_DB} database", names - SYSTEM_DB_READS
        else:
            continue
        if level in grants.grant_option:
            risky |= {"GRANT OPTION"}
        if risky:
            return f"{sorted(risky)[0]} on {where}"
    if grants.grantable_dynamic:
        return f"{sorted(grants.grantable_dynamic)[0]} WITH GRANT OPTION on *.*"
    return None


# ------------------------------------------------------------------ statements


def _privilege_list(privileges: Iterable[Privilege]) -> str:
    columns: dict[str, list[str]] = {}
    for privilege in sorted(privileges):
        if not _NAME.match(privilege.name):
            raise GrantParseError("a privilege name that is not a keyword")
        columns.setdefault(privilege.name, [])
        if privilege.column:
            columns[privilege.name].append(quote_identifier(privilege.column))
    return ", ".join(
        f"{name} ({', '.join(cols)})" if cols else name for name, cols in columns.items()
    )


def grant(
    level: Level, privileges: Iterable[Privilege], user: str, host: str, grant_option: bool = False
) -> Sql:
    """GRANT `privileges` ON `level` TO user@host [WITH GRANT OPTION]."""
    target, params = level.target()
    option = " WITH GRANT OPTION" if grant_option else ""
    text = f"GRANT {_privilege_list(privileges)} ON {target} TO %s@%s{option}"
    return text, (*params, user, host)


def revoke(level: Level, privileges: Iterable[Privilege], user: str, host: str) -> Sql:
    """REVOKE `privileges` ON `level` FROM user@host."""
    target, params = level.target()
    return f"REVOKE {_privilege_list(privileges)} ON {target} FROM %s@%s", (*params, user, host)


def revoke_grant_option(level: Level, user: str, host: str) -> Sql:
    """REVOKE GRANT OPTION ON `level` FROM user@host."""
    target, params = level.target()
    return f"REVOKE GRANT OPTION ON {target} FROM %s@%s", (*params, user, host)


def plan_privileges(want: Grants, have: Grants, user: str, host: str) -> list[Sql]:
    """Statements that turn `have` into `want` for user@host; empty when they are equal.

    Grants come before revokes, so an account in use never lacks a privilege it keeps. One
    exception: when `want` drops ALL PRIVILEGES at a level for a list, ALL is revoked first,
    and the list granted right after (ALL cannot be narrowed without knowing its expansion).
    Partial revokes come last: they restrict global privileges.
    """
    resets: list[Sql] = []
    grants: list[Sql] = []
    revokes: list[Sql] = []
    levels = set(want.privileges) | set(have.privileges) | want.grant_option | have.grant_option
    for level in sorted(levels, key=Level.rank):
        wanted, held = want.at(level), have.at(level)
        give_option = level in want.grant_option and level not in have.grant_option
        if ALL in held and ALL not in wanted:
            resets.append(revoke(level, [ALL], user, host))
            held = frozenset(p for p in held if p.column)
        if ALL in wanted:
            add = ({ALL} - held) | {p for p in wanted - held if p.column}
            remove = {p for p in held - wanted if p.column}
        else:
            add, remove = set(wanted - held), set(held - wanted)
        if add or give_option:
            grants.append(grant(level, add or {USAGE}, user, host, give_option))
        if remove:
            revokes.append(revoke(level, remove, user, host))
        if level in have.grant_option and level not in want.grant_option:
            revokes.append(revoke_grant_option(level, user, host))
    for name in sorted(want.grantable_dynamic - have.grantable_dynamic):
        grants.append(grant(GLOBAL, [Privilege(name)], user, host, grant_option=True))
    for name in sorted(have.grantable_dynamic - want.grantable_dynamic):
        resets.append(revoke(GLOBAL, [Privilege(name)], user, host))
        if Privilege(name) in want.at(GLOBAL):
            grants.append(grant(GLOBAL, [Privilege(name)], user, host))
    restrictions = [
        revoke(Level(DATABASE, db), [Privilege(name)], user, host)
        for db, name in sorted(want.partial_revokes - have.partial_revokes)
    ]
    grants += [
        grant(Level(DATABASE, db), [Privilege(name)], user, host)
        for db, name in sorted(have.partial_revokes - want.partial_revokes)
    ]
    return resets + grants + revokes + restrictions
