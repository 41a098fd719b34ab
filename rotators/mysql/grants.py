"""An account's privileges: parsed from SHOW GRANTS by a tokenizer (role lines are left to the
catalogue), judged (`admin_level`), and granted again from the parsed model (`plan_privileges`:
names checked as keywords, identifiers quoted, accounts as parameters), never from its text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from smrotate.rotators.mysql.sql import Role, Sql, quote_identifier

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


_TOKEN = re.compile(
    r"""\s+
    |`(?P<ident>(?:[^`]|``)*)`
    |'(?P<string>(?:[^'\\]|\\.|'')*)'
    |"(?P<dstring>(?:[^"\\]|\\.|"")*)"
    |(?P<word>[\w$]+)
    |(?P<punct>[,.()@*=])
    |(?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}


class Token(NamedTuple):
    kind: str  # ident, string, word or punct
    text: str  # unquoted and unescaped


def tokenize(line: str) -> list[Token]:
    """The tokens of one SHOW GRANTS line; GrantParseError at a character it cannot read."""
    tokens = []
    for found in _TOKEN.finditer(line):
        kind = found.lastgroup
        if kind == "bad":
            raise GrantParseError(f"unreadable character at position {found.start()}")
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

    def kind(self) -> str:  # "" at the end of the line
        return self.tokens[self.i].kind if self.i < len(self.tokens) else ""

    def at(self, *texts: str) -> bool:
        """Whether the next token is one of `texts`: a keyword (in any case) or punctuation."""
        return self.kind() in ("word", "punct") and self.tokens[self.i].text.upper() in texts

    def take(self, *texts: str) -> str:
        """The next token's text: one of `texts`, or a name when there are none."""
        if not (self.at(*texts) if texts else self.kind() in ("ident", "string", "word")):
            raise GrantParseError(f"expected {' or '.join(texts) or 'a name'} at token {self.i}")
        self.i += 1
        return self.tokens[self.i - 1].text

    def skip(self, text: str) -> bool:
        found = self.at(text)
        self.i += found
        return found


def _privileges(reader: _Reader) -> tuple[Privilege, ...]:
    found: list[Privilege] = []
    while True:
        words = []
        while reader.kind() == "word" and not reader.at("ON"):
            words.append(reader.take().upper())
        if not words:
            raise GrantParseError(f"expected a privilege at token {reader.i}")
        name = "ALL PRIVILEGES" if words == ["ALL"] else " ".join(words)
        if reader.skip("("):
            found.append(Privilege(name, reader.take()))
            while reader.skip(","):
                found.append(Privilege(name, reader.take()))
            reader.take(")")
        else:
            found.append(Privilege(name))
        if reader.skip("ON"):
            return tuple(found)
        reader.take(",")


def _level(reader: _Reader, privileges: tuple[Privilege, ...]) -> Level:
    if [p.name for p in privileges] == ["PROXY"]:
        user, _, host = reader.take(), reader.take("@"), reader.take()
        return Level(PROXY_KIND, name=user, host=host)
    kind = TABLE
    if reader.at("PROCEDURE", "FUNCTION", "PACKAGE", "TABLE"):
        word = reader.take("PROCEDURE", "FUNCTION", "PACKAGE", "TABLE").upper()
        body = word == "PACKAGE" and reader.skip("BODY")
        kind = TABLE if word == "TABLE" else word + " BODY" * body
    if reader.skip("*"):
        reader.take(".")
        reader.take("*")
        return GLOBAL
    db, _ = reader.take(), reader.take(".")
    return Level(DATABASE, db) if reader.skip("*") else Level(kind, db, reader.take())


def _parse_line(line: str) -> tuple[bool, tuple[Privilege, ...], Level, bool] | None:
    """(revoke, privileges, level, grant option) of one line; None for lines about roles
    (GRANT role TO, SET DEFAULT ROLE)."""
    reader = _Reader(line)
    if not reader.at("GRANT", "REVOKE"):
        return None
    revoke = reader.take("GRANT", "REVOKE").upper() == "REVOKE"
    if reader.kind() in ("", "ident", "string"):
        return None  # GRANT `role` TO ...
    privileges = _privileges(reader)
    level = _level(reader, privileges)
    reader.take("FROM" if revoke else "TO")
    reader.take()
    if reader.skip("@"):  # a MariaDB role has no host
        reader.take()
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
        dynamic_only = all("_" in p.name and " " not in p.name for p in held)
        if option and level == GLOBAL and held and dynamic_only:
            dynamic.update(p.name for p in held)
        elif option:
            grant_option.add(level)
    return Grants(
        {level: frozenset(held) for level, held in privileges.items()},
        frozenset(grant_option),
        frozenset(dynamic),
        frozenset(revokes),
    )


# Global privileges that reach other accounts' rights (why each: docs/mysql.md#admin-level).
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
    """Why `grants` are admin-level, in a few words, or None: ADMIN_GLOBAL on `*.*`, more than
    SYSTEM_DB_READS on `mysql` (wildcards included), GRANT OPTION on either, a grantable dynamic
    privilege, PROXY on the anonymous account (who proxies as anyone) or with grant option."""
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


Step = tuple[bool, Level, Iterable[Privilege], bool]  # revoke?, level, privileges, grant option


def _statement(
    revoke: bool, level: Level, privileges: Iterable[Privilege], option: bool, account: Role
) -> Sql:
    """GRANT (or REVOKE) `privileges` (GRANT OPTION when empty) ON `level` TO (FROM) `account`."""
    target, params = level.target()
    columns: dict[str, list[str]] = {}
    for privilege in sorted(privileges):
        if not _NAME.match(privilege.name):
            raise GrantParseError("a privilege name that is not a keyword")
        named = [quote_identifier(privilege.column)] if privilege.column else []
        columns.setdefault(privilege.name, []).extend(named)
    listed = ", ".join(f"{n} ({', '.join(c)})" if c else n for n, c in columns.items())
    verb, to = ("REVOKE", "FROM") if revoke else ("GRANT", "TO")
    text = f"{verb} {listed or 'GRANT OPTION'} ON {target} {to} %s@%s"
    return text + " WITH GRANT OPTION" * option, (*params, *account)


def plan_privileges(want: Grants, have: Grants, user: str, host: str) -> list[Sql]:
    """Statements that turn `have` into `want` for user@host; empty when they are equal.
    Grants come before revokes (an account in use keeps what it keeps), but for ALL PRIVILEGES
    narrowed to a list: revoked first, the list granted next. Partial revokes come last."""
    resets: list[Step] = []
    grants: list[Step] = []
    revokes: list[Step] = []
    levels = set(want.privileges) | set(have.privileges) | want.grant_option | have.grant_option
    for level in sorted(levels, key=Level.rank):
        wanted, held = want.at(level), have.at(level)
        give_option = level in want.grant_option and level not in have.grant_option
        if ALL in held and ALL not in wanted:
            resets.append((True, level, [ALL], False))
            held = frozenset(p for p in held if p.column)
        if ALL in wanted:
            add = ({ALL} - held) | {p for p in wanted - held if p.column}
            remove = {p for p in held - wanted if p.column}
        else:
            add, remove = set(wanted - held), set(held - wanted)
        if add or give_option:
            grants.append((False, level, add or {USAGE}, give_option))
        if remove:
            revokes.append((True, level, remove, False))
        if level in have.grant_option and level not in want.grant_option:
            revokes.append((True, level, (), False))
    for name in sorted(want.grantable_dynamic - have.grantable_dynamic):
        grants.append((False, GLOBAL, [Privilege(name)], True))
    for name in sorted(have.grantable_dynamic - want.grantable_dynamic):
        resets.append((True, GLOBAL, [Privilege(name)], False))
        if Privilege(name) in want.at(GLOBAL):
            grants.append((False, GLOBAL, [Privilege(name)], False))
    restrict: list[Step] = []
    for db, name in sorted(want.partial_revokes - have.partial_revokes):
        restrict.append((True, Level(DATABASE, db), [Privilege(name)], False))
    for db, name in sorted(have.partial_revokes - want.partial_revokes):
        grants.append((False, Level(DATABASE, db), [Privilege(name)], False))
    return [_statement(*step, (user, host)) for step in resets + grants + revokes + restrict]
