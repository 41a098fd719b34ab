"""An account's privileges on MySQL and MariaDB: parsed from SHOW GRANTS, judged, re-granted.

`parse_grants` reads SHOW GRANTS lines with a tokenizer into `Grants` (lines about roles are
left to the catalogue); `admin_level` says why rights are admin-level; `plan_privileges` builds
GRANT and REVOKE statements from the model (privilege names checked as keywords, identifiers
quoted, accounts as parameters), never from the server's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from smrotate.rotators.mysql.sql import Sql, quote_identifier

GLOBAL_KIND, DATABASE, TABLE, PROXY_KIND = "global", "database", "table", "proxy"
ROUTINES = ("PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY")
_ORDER = (GLOBAL_KIND, DATABASE, TABLE, *ROUTINES, PROXY_KIND)  # of the statements planned


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
        return (_ORDER.index(self.kind), self.db, self.name, self.host)

    def target(self) -> Sql:
        """The ON clause's object and its parameters."""
        if self.kind in (GLOBAL_KIND, PROXY_KIND):
            return ("*.*", ()) if self.kind == GLOBAL_KIND else ("%s@%s", (self.name, self.host))
        if self.kind == DATABASE:
            return quote_identifier(self.db) + ".*", ()
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


# ------------------------------------------------------------------ parsing

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


def tokenize(line: str) -> list[Token]:
    """The tokens of one SHOW GRANTS line; GrantParseError at a character it cannot read."""
    tokens, pos = [], 0
    while pos < len(line):
        found = _TOKEN.match(line, pos)
        if found is None:
            raise GrantParseError(f"unreadable character at position {pos}")
        pos, kind = found.end(), found.lastgroup
        if kind is None:
            continue
        text, quote = found[kind], {"ident": "`", "string": "'", "dstring": '"'}.get(kind, "")
        if quote:
            text = text.replace(quote * 2, quote)
        if quote in ("'", '"'):
            text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text, flags=re.DOTALL)
        tokens.append(Token("string" if kind == "dstring" else kind, text))
    return tokens


def _words(tokens: Iterable[Token]) -> list[str]:
    """The tokens as upper-case keywords; "" for any token that is not a word."""
    return [t.text.upper() if t.kind == "word" else "" for t in tokens]


class _Reader:
    """The tokens of one line, read from left to right."""

    def __init__(self, line: str) -> None:
        self.tokens, self.i = tokenize(line), 0

    def peek(self, kind: str = "") -> Token | None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        return token if token is not None and kind in ("", token.kind) else None

    def at(self, *texts: str) -> bool:
        """Whether the next token is one of `texts`: a keyword (in any case) or punctuation."""
        token = self.peek()
        return token is not None and token.kind in ("word", "punct") and token.text.upper() in texts

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise GrantParseError("the line ends too early")
        self.i += 1
        return token

    def skip(self, text: str) -> bool:
        """Take the next token if it is `text`."""
        found = self.at(text)
        self.i += found
        return found

    def expect(self, text: str) -> None:
        if not self.skip(text):
            raise GrantParseError(f"expected {text!r} at token {self.i}")

    def name(self) -> str:
        token = self.take()
        if token.kind not in ("ident", "string", "word"):
            raise GrantParseError(f"expected a name at token {self.i - 1}")
        return token.text


def _privileges(reader: _Reader) -> tuple[Privilege, ...]:
    found: list[Privilege] = []
    while True:
        words = []
        while reader.peek("word") and not reader.at("ON"):
            words.append(reader.take().text.upper())
        if not words:
            raise GrantParseError(f"expected a privilege at token {reader.i}")
        name = "ALL PRIVILEGES" if words == ["ALL"] else " ".join(words)
        if reader.skip("("):
            found.append(Privilege(name, reader.name()))
            while reader.skip(","):
                found.append(Privilege(name, reader.name()))
            reader.expect(")")
        else:
            found.append(Privilege(name))
        if reader.skip("ON"):
            return tuple(found)
        reader.expect(",")


def _level(reader: _Reader, privileges: tuple[Privilege, ...]) -> Level:
    if [p.name for p in privileges] == ["PROXY"]:
        user = reader.name()
        reader.expect("@")
        return Level(PROXY_KIND, name=user, host=reader.name())
    kind = TABLE
    if reader.at("PROCEDURE", "FUNCTION", "PACKAGE", "TABLE"):
        word = reader.take().text.upper()
        body = word == "PACKAGE" and reader.skip("BODY")
        kind = TABLE if word == "TABLE" else word + " BODY" * body
    if reader.skip("*"):
        reader.expect(".")
        reader.expect("*")
        return GLOBAL
    db = reader.name()
    reader.expect(".")
    return Level(DATABASE, db) if reader.skip("*") else Level(kind, db, reader.name())


def _parse_line(line: str) -> tuple[bool, tuple[Privilege, ...], Level, bool] | None:
    """(revoke, privileges, level, grant option) of one line; None for lines about roles
    (GRANT role TO, SET DEFAULT ROLE)."""
    reader = _Reader(line)
    revoke = reader.at("REVOKE")
    if not revoke and not reader.at("GRANT"):
        return None
    reader.take()
    if reader.peek() is None or reader.peek("ident") or reader.peek("string"):
        return None  # GRANT `role` TO ...
    privileges = _privileges(reader)
    level = _level(reader, privileges)
    reader.expect("FROM" if revoke else "TO")
    reader.name()
    if reader.skip("@"):  # a MariaDB role has no host
        reader.name()
    rest = _words(reader.tokens[reader.i :])
    withs = [i for i in range(len(rest)) if rest[i : i + 2] == ["WITH", "GRANT"]]
    option = bool(withs) and rest[withs[0] + 2 : withs[0] + 3] == ["OPTION"]
    return revoke, privileges, level, option and not revoke


def identified_by_native_hash(lines: Iterable[str]) -> bool:
    """True when SHOW GRANTS says `IDENTIFIED BY PASSWORD '*...'`: MariaDB's form for an
    account that uses mysql_native_password alone; False otherwise, or for an unreadable line."""
    for line in lines:
        try:
            words = _words(tokenize(line))
        except GrantParseError:
            return False
        if any(words[i : i + 3] == ["IDENTIFIED", "BY", "PASSWORD"] for i in range(len(words))):
            return True
    return False


def parse_grants(lines: Iterable[str]) -> Grants:
    """`Grants` from the lines of SHOW GRANTS FOR one account."""
    privileges: dict[Level, set[Privilege]] = {}
    grant_option: set[Level] = set()
    dynamic: set[str] = set()
    revokes: set[tuple[str, str]] = set()
    for text in lines:
        if (line := _parse_line(text)) is None:
            continue
        revoke, names, level, option = line
        held = [p for p in names if p != USAGE]
        if revoke:
            if level.kind != DATABASE:
                raise GrantParseError("a partial revoke below the database level")
            revokes.update((level.db, p.name) for p in held)
            continue
        if held:
            privileges.setdefault(level, set()).update(held)
        # MySQL 8's dynamic privileges (one word with `_`) have a grant option each.
        if option and level == GLOBAL and held and all(_dynamic(p.name) for p in held):
            dynamic.update(p.name for p in held)
        elif option:
            grant_option.add(level)
    return Grants(
        {level: frozenset(held) for level, held in privileges.items()},
        frozenset(grant_option),
        frozenset(dynamic),
        frozenset(revokes),
    )


def _dynamic(name: str) -> bool:
    return "_" in name and " " not in name


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
    """Why `grants` are admin-level, in a few words, or None: ADMIN_GLOBAL on `*.*`; anything
    but SYSTEM_DB_READS on the `mysql` database or its tables (also through wildcards); GRANT
    OPTION on `*.*` or on `mysql`; a grantable dynamic privilege; PROXY on the anonymous account
    (which proxies as anyone) or with grant option."""
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


def _statement(
    revoke: bool,
    level: Level,
    privileges: Iterable[Privilege] | None,
    user: str,
    host: str,
    *,
    option: bool = False,
) -> Sql:
    """GRANT `privileges` (REVOKE when `revoke`; GRANT OPTION when None) ON `level`."""
    target, params = level.target()
    columns: dict[str, list[str]] = {}
    for privilege in sorted(privileges or ()):
        if not _NAME.match(privilege.name):
            raise GrantParseError("a privilege name that is not a keyword")
        columns.setdefault(privilege.name, [])
        if privilege.column:
            columns[privilege.name].append(quote_identifier(privilege.column))
    listed = ", ".join(f"{n} ({', '.join(c)})" if c else n for n, c in columns.items())
    verb, to = ("REVOKE", "FROM") if revoke else ("GRANT", "TO")
    text = f"{verb} {listed or 'GRANT OPTION'} ON {target} {to} %s@%s"
    return text + " WITH GRANT OPTION" * option, (*params, user, host)


def plan_privileges(want: Grants, have: Grants, user: str, host: str) -> list[Sql]:
    """Statements that turn `have` into `want` for user@host; empty when they are equal.

    Grants come before revokes, so an account in use never lacks a privilege it keeps; except
    that ALL PRIVILEGES narrowed to a list is revoked first, and the list granted right after
    (ALL cannot be narrowed without knowing its expansion). Partial revokes come last.
    """
    resets: list[Sql] = []
    grants: list[Sql] = []
    revokes: list[Sql] = []
    levels = set(want.privileges) | set(have.privileges) | want.grant_option | have.grant_option
    for level in sorted(levels, key=Level.rank):
        wanted, held = want.at(level), have.at(level)
        give_option = level in want.grant_option and level not in have.grant_option
        if ALL in held and ALL not in wanted:
            resets.append(_statement(True, level, [ALL], user, host))
            held = frozenset(p for p in held if p.column)
        if ALL in wanted:
            add = ({ALL} - held) | {p for p in wanted - held if p.column}
            remove = {p for p in held - wanted if p.column}
        else:
            add, remove = set(wanted - held), set(held - wanted)
        if add or give_option:
            grants.append(_statement(False, level, add or {USAGE}, user, host, option=give_option))
        if remove:
            revokes.append(_statement(True, level, remove, user, host))
        if level in have.grant_option and level not in want.grant_option:
            revokes.append(_statement(True, level, None, user, host))
    for name in sorted(want.grantable_dynamic - have.grantable_dynamic):
        grants.append(_statement(False, GLOBAL, [Privilege(name)], user, host, option=True))
    for name in sorted(have.grantable_dynamic - want.grantable_dynamic):
        resets.append(_statement(True, GLOBAL, [Privilege(name)], user, host))
        if Privilege(name) in want.at(GLOBAL):
            grants.append(_statement(False, GLOBAL, [Privilege(name)], user, host))
    restrictions = [
        _statement(True, Level(DATABASE, db), [Privilege(name)], user, host)
        for db, name in sorted(want.partial_revokes - have.partial_revokes)
    ]
    grants += [
        _statement(False, Level(DATABASE, db), [Privilege(name)], user, host)
        for db, name in sorted(have.partial_revokes - want.partial_revokes)
    ]
    return resets + grants + revokes + restrictions
