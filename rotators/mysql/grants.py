"""The grants model: SHOW GRANTS parsed into privileges per level (role lines are left to the
catalogue), judged (`admin_level`) and planned as GRANT and REVOKE from that model, never from
the server's text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from smrotate.rotators.mysql.sql import Role, Sql, quote_identifier

GLOBAL_KIND, DATABASE, TABLE, PROXY_KIND = "global", "database", "table", "proxy"
ROUTINES = ("PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY")
_ORDER = (GLOBAL_KIND, DATABASE, TABLE, *ROUTINES, PROXY_KIND)  # of the statements planned


class GrantParseError(ValueError):
    """A SHOW GRANTS line this module cannot read; the message never quotes the line."""


class Level(NamedTuple):
    """What a privilege applies to (`kind`: global, database, table, proxy, PROCEDURE...)."""

    kind: str
    db: str = ""
    name: str = ""
    host: str = ""  # with `name`, the proxied account of a proxy level

    def rank(self) -> tuple[int, str, str, str]:
        """Order of statements: global, database, table, routine, proxy levels."""
        return (_ORDER.index(self.kind), self.db, self.name, self.host)

    def target(self) -> Sql:
        """The ON clause's object and its parameters."""
        if self.kind in (GLOBAL_KIND, PROXY_KIND):
            return ("*.*", ()) if self.kind == GLOBAL_KIND else ("%s@%s", (self.name, self.host))
        table = "*" if self.kind == DATABASE else quote_identifier(self.name)
        routine = "" if self.kind in (DATABASE, TABLE) else self.kind + " "
        return f"{routine}{quote_identifier(self.db)}.{table}", ()


GLOBAL = Level(GLOBAL_KIND)


class Privilege(NamedTuple):
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
    r"""\s+ | `(?P<ident>(?:[^`]|``)*)` | '(?P<string>(?:[^'\\]|\\.|'')*)'
    | "(?P<dstring>(?:[^"\\]|\\.|"")*)" | (?P<word>[\w$]+) | (?P<punct>[,.()@*=]) | (?P<bad>.)""",
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
        if (kind := found.lastgroup) == "bad":
            raise GrantParseError(f"unreadable character at position {found.start()}")
        if kind is None:  # white space
            continue
        text, quote = found[kind], {"ident": "`", "string": "'", "dstring": '"'}.get(kind, "")
        if quote:
            text = text.replace(quote * 2, quote)
        if quote in ("'", '"'):
            text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text, flags=re.DOTALL)
        tokens.append(Token("string" if kind == "dstring" else kind, text))
    return tokens


def _says(tokens: Sequence[Token], *phrase: str) -> bool:
    """Whether the keywords `phrase` follow one another in `tokens` (quoted text never counts)."""
    words = [t.text.upper() if t.kind == "word" else "" for t in tokens]
    return any(words[i : i + len(phrase)] == list(phrase) for i in range(len(words)))


class _Reader:
    """The tokens of one SHOW GRANTS line, read from left to right."""

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
        self.i += (found := self.at(text))
        return found

    def privileges(self) -> list[Privilege]:  # up to ON, one per column of column privileges
        found: list[Privilege] = []
        while True:
            words = []
            while self.kind() == "word" and not self.at("ON"):
                words.append(self.take().upper())
            if not words:
                raise GrantParseError(f"expected a privilege at token {self.i}")
            name, columns = "ALL PRIVILEGES" if words == ["ALL"] else " ".join(words), [""]
            if self.skip("("):
                columns = [self.take()]
                while not self.skip(")"):
                    self.take(",")
                    columns.append(self.take())
            found += [Privilege(name, column) for column in columns]
            if self.skip("ON"):
                return found
            self.take(",")

    def level(self, privileges: list[Privilege]) -> Level:
        if [p.name for p in privileges] == ["PROXY"]:
            user, _, host = self.take(), self.take("@"), self.take()
            return Level(PROXY_KIND, name=user, host=host)
        kind = TABLE
        if self.at("PROCEDURE", "FUNCTION", "PACKAGE", "TABLE"):
            word = self.take().upper()
            body = word == "PACKAGE" and self.skip("BODY")
            kind = TABLE if word == "TABLE" else word + " BODY" * body
        if self.skip("*"):
            self.take(".")
            self.take("*")
            return GLOBAL
        db, _ = self.take(), self.take(".")
        return Level(DATABASE, db) if self.skip("*") else Level(kind, db, self.take())

    def grant(self) -> tuple[bool, list[Privilege], Level, bool] | None:
        """(revoke, privileges, level, grant option); None for a line about roles."""
        revoke = self.skip("REVOKE")
        if not (revoke or self.skip("GRANT")) or self.kind() in ("", "ident", "string"):
            return None
        privileges = self.privileges()
        level = self.level(privileges)
        self.take("FROM" if revoke else "TO")
        self.take()
        if self.skip("@"):  # a MariaDB role has no host
            self.take()
        option = _says(self.tokens[self.i :], "WITH", "GRANT", "OPTION")
        return revoke, privileges, level, option and not revoke


def identified_by_native_hash(lines: Iterable[str]) -> bool:
    """Whether SHOW GRANTS says `IDENTIFIED BY PASSWORD` (mysql_native_password alone, MariaDB)."""
    try:
        return any(_says(tokenize(line), "IDENTIFIED", "BY", "PASSWORD") for line in lines)
    except GrantParseError:
        return False


def parse_grants(lines: Iterable[str]) -> Grants:
    """`Grants` from the lines of SHOW GRANTS FOR one account."""
    privileges: dict[Level, set[Privilege]] = {}
    grant_option: set[Level] = set()
    dynamic: set[str] = set()
    revokes: set[tuple[str, str]] = set()
    for revoke, names, level, option in filter(None, (_Reader(t).grant() for t in lines)):
        held = [p for p in names if p != USAGE]
        if revoke and level.kind != DATABASE:
            raise GrantParseError("a partial revoke below the database level")
        if revoke:
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
    held_at = {level: frozenset(held) for level, held in privileges.items()}
    return Grants(held_at, frozenset(grant_option), frozenset(dynamic), frozenset(revokes))


# Global privileges that reach other accounts' rights (why each: docs/mysql.md#admin-level).
ADMIN_GLOBAL = frozenset(
    {"ALL PRIVILEGES", "SUPER", "CREATE USER", "INSERT", "UPDATE", "DELETE"}
    | {"SET USER", "SET_USER_ID", "SET_ANY_DEFINER", "BINLOG REPLAY", "ROLE_ADMIN"}
    | {"SYSTEM_USER", "SYSTEM_VARIABLES_ADMIN", "FILE"}
)
SYSTEM_DB = "mysql"  # the grant tables
SYSTEM_DB_READS = frozenset({"SELECT", "SHOW VIEW"})  # anything else on it is admin-level


def like(pattern: str, name: str) -> bool:
    """Whether a database GRANT's `pattern` (`%`, `_`, `\\` escapes) covers `name`, in any case."""
    parts = re.findall(r"\\.|%|_|[^%_\\]+|\\", pattern)
    regex = "".join({"%": ".*", "_": "."}.get(p) or re.escape(p.removeprefix("\\")) for p in parts)
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def admin_level(grants: Grants) -> str | None:
    """Why `grants` are admin-level (docs/mysql.md#admin-level), in a few words, or None."""
    for level in sorted(set(grants.privileges) | grants.grant_option, key=Level.rank):
        names = {p.name for p in grants.at(level)}
        if level.kind == PROXY_KIND and (level.name == "" or level in grants.grant_option):
            return f"PROXY on {level.name!r}@{level.host!r}"
        if level == GLOBAL:
            where, risky = "*.*", names & ADMIN_GLOBAL
        elif like(level.db, SYSTEM_DB) if level.kind == DATABASE else level.db == SYSTEM_DB:
            where, risky = f"the {SYSTEM_DB} database", names - SYSTEM_DB_READS
        else:
            continue  # a proxy level's db is "": never the system database
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
    """Statements that turn `have` into `want` for user@host, in the order docs/mysql.md gives
    (grants before revokes); empty when they are equal."""
    phases: tuple[list[Step], ...] = ([], [], [], [])
    resets, grants, revokes, restrict = phases  # in this order; restrict: partial revokes
    levels = set(want.privileges) | set(have.privileges) | want.grant_option | have.grant_option
    for level in sorted(levels, key=Level.rank):
        wanted, held = want.at(level), have.at(level)
        if ALL in held and ALL not in wanted:
            resets.append((True, level, [ALL], False))
            held = frozenset(p for p in held if p.column)
        # ALL PRIVILEGES covers the other table-wide privileges: they are neither added nor removed
        covered = {p for p in wanted | held if not p.column} - {ALL} if ALL in wanted else set()
        add, remove = wanted - held - covered, held - wanted - covered
        give_option = level in want.grant_option and level not in have.grant_option
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
    for db, name in sorted(want.partial_revokes - have.partial_revokes):
        restrict.append((True, Level(DATABASE, db), [Privilege(name)], False))
    for db, name in sorted(have.partial_revokes - want.partial_revokes):
        grants.append((False, Level(DATABASE, db), [Privilege(name)], False))
    return [_statement(*step, (user, host)) for phase in phases for step in phase]
