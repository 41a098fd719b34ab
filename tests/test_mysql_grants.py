"""SHOW GRANTS parsing and the GRANT/REVOKE statements planned from it, for MariaDB (lines as
10.11 prints them) and MySQL 8 (tested here only: no MySQL server can run on this machine),
and a clone sync against a simulated MySQL 8 catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pymysql.converters
import pytest

from smrotate.rotators.mysql import MySQLRotator, clone
from smrotate.rotators.mysql.grants import (
    ALL,
    GLOBAL,
    GrantParseError,
    Grants,
    Level,
    Privilege,
    admin_level,
    identified_by_native_hash,
    like,
    parse_grants,
    plan_privileges,
    tokenize,
)
from smrotate.rotators.mysql.session import MySQLSession
from smrotate.rotators.mysql.sql import Server, Sql

MYSQL8 = Server("mysql", (8, 0, 36))


def render(statement: Sql) -> str:
    text, params = statement
    return text % tuple(pymysql.converters.escape_item(p, "utf8mb4") for p in params)


def plan(want: Grants, have: Grants, user: str = "app_clone", host: str = "%") -> list[str]:
    return [render(s) for s in plan_privileges(want, have, user, host)]


MARIADB_LINES = [
    "GRANT `reader` TO `app`@`%`",
    "GRANT `writer x` TO `app`@`%` WITH ADMIN OPTION",
    "GRANT PROCESS, BINLOG MONITOR ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD "
    "'*2B602296A79E0A8784ACC5C88D92E46588CCA3C3' REQUIRE ISSUER '/CN=ca' SUBJECT '/CN=x''y' "
    "CIPHER 'ECDHE' WITH MAX_QUERIES_PER_HOUR 100",
    "GRANT SELECT, INSERT ON `db\\_1`.* TO `app`@`%` WITH GRANT OPTION",
    "GRANT ALL PRIVILEGES ON `we``ird db`.* TO `app`@`%`",
    "GRANT SELECT (`b c`, `a`), UPDATE (`a`) ON `db_1`.`t` TO `app`@`%`",
    "GRANT EXECUTE ON PROCEDURE `db_1`.`p` TO `app`@`%`",
    "GRANT USAGE ON PACKAGE BODY `db_1`.`pk` TO `app`@`%` WITH GRANT OPTION",
    "GRANT PROXY ON `reader`@`%` TO `app`@`%`",
    "SET DEFAULT ROLE `reader` FOR `app`@`%`",
]

MYSQL8_LINES = [
    "GRANT SELECT, RELOAD, PROCESS ON *.* TO `app`@`%` WITH GRANT OPTION",
    "GRANT BACKUP_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `app`@`%`",
    "GRANT XA_RECOVER_ADMIN ON *.* TO `app`@`%` WITH GRANT OPTION",
    "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`",
    "GRANT EXECUTE ON FUNCTION `shop`.`f` TO `app`@`%`",
    "GRANT `reader`@`%`,`writer`@`localhost` TO `app`@`%` WITH ADMIN OPTION",
    "REVOKE INSERT, UPDATE ON `mysql`.* FROM `app`@`%`",
    "GRANT PROXY ON ``@`` TO `app`@`%`",
]


def test_mariadb_lines() -> None:
    grants = parse_grants(MARIADB_LINES)
    t = Level("table", "db_1", "t")
    assert grants.privileges == {
        GLOBAL: {Privilege("PROCESS"), Privilege("BINLOG MONITOR")},
        Level("database", "db\\_1"): {Privilege("SELECT"), Privilege("INSERT")},
        Level("database", "we`ird db"): {ALL},
        t: {Privilege("SELECT", "b c"), Privilege("SELECT", "a"), Privilege("UPDATE", "a")},
        Level("PROCEDURE", "db_1", "p"): {Privilege("EXECUTE")},
        Level("proxy", name="reader", host="%"): {Privilege("PROXY")},
    }
    assert grants.grant_option == {
        Level("database", "db\\_1"),
        Level("PACKAGE BODY", "db_1", "pk"),
    }
    assert grants.grantable_dynamic == frozenset()
    assert grants.partial_revokes == frozenset()


def test_mysql_8_lines() -> None:
    grants = parse_grants(MYSQL8_LINES)
    assert grants.at(GLOBAL) == {
        Privilege(n)
        for n in ("SELECT", "RELOAD", "PROCESS", "BACKUP_ADMIN", "SYSTEM_VARIABLES_ADMIN")
    } | {Privilege("XA_RECOVER_ADMIN")}
    assert grants.grant_option == {GLOBAL}  # from the static line
    assert grants.grantable_dynamic == {"XA_RECOVER_ADMIN"}
    assert grants.partial_revokes == {("mysql", "INSERT"), ("mysql", "UPDATE")}
    assert grants.at(Level("FUNCTION", "shop", "f")) == {Privilege("EXECUTE")}
    assert grants.at(Level("proxy", name="", host="")) == {Privilege("PROXY")}


def test_a_clone_without_rights_gets_every_statement_mariadb() -> None:
    assert plan(parse_grants(MARIADB_LINES), Grants()) == [
        "GRANT BINLOG MONITOR, PROCESS ON *.* TO 'app_clone'@'%'",
        "GRANT INSERT, SELECT ON `db\\_1`.* TO 'app_clone'@'%' WITH GRANT OPTION",
        "GRANT ALL PRIVILEGES ON `we``ird db`.* TO 'app_clone'@'%'",
        "GRANT SELECT (`a`, `b c`), UPDATE (`a`) ON `db_1`.`t` TO 'app_clone'@'%'",
        "GRANT EXECUTE ON PROCEDURE `db_1`.`p` TO 'app_clone'@'%'",
        "GRANT USAGE ON PACKAGE BODY `db_1`.`pk` TO 'app_clone'@'%' WITH GRANT OPTION",
        "GRANT PROXY ON 'reader'@'%' TO 'app_clone'@'%'",
    ]


def test_a_clone_without_rights_gets_every_statement_mysql_8() -> None:
    assert plan(parse_grants(MYSQL8_LINES), Grants()) == [
        "GRANT BACKUP_ADMIN, PROCESS, RELOAD, SELECT, SYSTEM_VARIABLES_ADMIN, XA_RECOVER_ADMIN "
        "ON *.* TO 'app_clone'@'%' WITH GRANT OPTION",
        "GRANT INSERT, SELECT ON `shop`.* TO 'app_clone'@'%'",
        "GRANT EXECUTE ON FUNCTION `shop`.`f` TO 'app_clone'@'%'",
        "GRANT PROXY ON ''@'' TO 'app_clone'@'%'",
        "GRANT XA_RECOVER_ADMIN ON *.* TO 'app_clone'@'%' WITH GRANT OPTION",
        "REVOKE INSERT ON `mysql`.* FROM 'app_clone'@'%'",
        "REVOKE UPDATE ON `mysql`.* FROM 'app_clone'@'%'",
    ]


def test_equal_rights_plan_nothing() -> None:
    for lines in (MARIADB_LINES, MYSQL8_LINES):
        assert plan(parse_grants(lines), parse_grants(lines)) == []


def test_grants_come_before_revokes() -> None:
    want = parse_grants(["GRANT SELECT, DELETE ON `s`.* TO `a`@`%`"])
    have = parse_grants(["GRANT SELECT, INSERT ON `s`.* TO `a`@`%` WITH GRANT OPTION"])
    assert plan(want, have) == [
        "GRANT DELETE ON `s`.* TO 'app_clone'@'%'",
        "REVOKE INSERT ON `s`.* FROM 'app_clone'@'%'",
        "REVOKE GRANT OPTION ON `s`.* FROM 'app_clone'@'%'",
    ]


def test_narrowing_all_privileges_revokes_all_then_grants_the_list() -> None:
    want = parse_grants(["GRANT SELECT, INSERT ON `s`.* TO `a`@`%`"])
    have = parse_grants(["GRANT ALL PRIVILEGES ON `s`.* TO `a`@`%`"])
    assert plan(want, have) == [
        "REVOKE ALL PRIVILEGES ON `s`.* FROM 'app_clone'@'%'",
        "GRANT INSERT, SELECT ON `s`.* TO 'app_clone'@'%'",
    ]
    assert plan(have, want) == ["GRANT ALL PRIVILEGES ON `s`.* TO 'app_clone'@'%'"]


def test_mysql_8_dynamic_grant_option_and_partial_revokes_follow() -> None:
    want = parse_grants(
        [
            "GRANT SELECT ON *.* TO `a`@`%`",
            "GRANT BACKUP_ADMIN ON *.* TO `a`@`%`",
            "REVOKE SELECT ON `hr`.* FROM `a`@`%`",
        ]
    )
    have = parse_grants(
        [
            "GRANT SELECT ON *.* TO `a`@`%`",
            "GRANT BACKUP_ADMIN ON *.* TO `a`@`%` WITH GRANT OPTION",
            "REVOKE SELECT ON `mysql`.* FROM `a`@`%`",
        ]
    )
    assert plan(want, have) == [
        "REVOKE BACKUP_ADMIN ON *.* FROM 'app_clone'@'%'",
        "GRANT BACKUP_ADMIN ON *.* TO 'app_clone'@'%'",
        "GRANT SELECT ON `mysql`.* TO 'app_clone'@'%'",
        "REVOKE SELECT ON `hr`.* FROM 'app_clone'@'%'",
    ]


def test_odd_identifiers_are_quoted_and_percent_survives_pymysql() -> None:
    want = parse_grants(["GRANT SELECT (`c``o%l`) ON `we``ird%db`.`t'x` TO `a`@`%`"])
    [(text, params)] = plan_privileges(want, Grants(), "o'brien", "10.%")
    assert text == "GRANT SELECT (`c``o%%l`) ON `we``ird%%db`.`t'x` TO %s@%s"
    assert params == ("o'brien", "10.%")
    assert render((text, params)) == (
        "GRANT SELECT (`c``o%l`) ON `we``ird%db`.`t'x` TO 'o\\'brien'@'10.%'"
    )


def test_tokens() -> None:
    tokens = tokenize("GRANT SELECT (`a``b`) ON `d`.* TO 'x''y'@\"h\\\"o\" WITH")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "GRANT"),
        ("word", "SELECT"),
        ("punct", "("),
        ("ident", "a`b"),
        ("punct", ")"),
        ("word", "ON"),
        ("ident", "d"),
        ("punct", "."),
        ("punct", "*"),
        ("word", "TO"),
        ("string", "x'y"),
        ("punct", "@"),
        ("string", 'h"o'),
        ("word", "WITH"),
    ]


def test_strings_in_the_tail_cannot_fake_a_grant_option() -> None:
    line = "GRANT USAGE ON *.* TO `a`@`%` REQUIRE SUBJECT ' WITH GRANT OPTION'"
    assert parse_grants([line]) == Grants()


@pytest.mark.parametrize(
    "line",
    [
        "GRANT SELECT ON `d`.* TO `a`@`%` IDENTIFIED BY PASSWORD 'secret-hash' \x01",
        "GRANT SELECT ON `d`.`t`.`x` TO `a`@`%`",
        "GRANT SELECT ON",
        "REVOKE SELECT ON `d`.`t` FROM `a`@`%`",
    ],
)
def test_unreadable_lines_are_errors_that_do_not_quote_them(line: str) -> None:
    with pytest.raises(GrantParseError) as caught:
        parse_grants([line])
    assert "secret-hash" not in str(caught.value)
    assert "`" not in str(caught.value)


def test_a_privilege_name_must_be_a_keyword() -> None:
    bad = Grants({GLOBAL: frozenset({Privilege("SELECT; DROP")})})
    with pytest.raises(GrantParseError, match="not a keyword"):
        plan(bad, Grants())


# ---------------------------------------------------------------- a MySQL 8 catalogue


class FakeMySQL8:
    """Stands in for `session.run` in the clone sync: answers its catalogue queries as a MySQL 8
    server would; after the first GRANT, REVOKE or ALTER, the clone reads back as the base (the
    plan was applied)."""

    def __init__(self, clone_exists: bool) -> None:
        self.sent: list[str] = []
        self.clone_exists = clone_exists
        self.written = False

    def base(self, query: str) -> list[tuple[Any, ...]]:
        if query.startswith("SELECT Host, plugin"):
            return [
                ("%", "mysql_native_password", "*HASH"),
                ("10.0.%", "mysql_native_password", "*HASH"),
            ]
        if query.startswith("SHOW GRANTS"):
            return [(line,) for line in MYSQL8_LINES]
        if "role_edges" in query:
            return [("reader", "%", "N"), ("writer", "localhost", "Y")]
        if "default_roles" in query:
            return [("reader", "%"), ("gone", "%")]  # a default role no longer granted
        return [("X509", b"", b"", b"", 0, 5, 0, 2, "Y", 0)]  # REQUIRE X509, limits, locked

    def clone(self, query: str) -> list[tuple[Any, ...]]:
        if self.written:
            return self.base(query)
        if query.startswith("SELECT Host, plugin"):
            return [("%", "caching_sha2_password", "$A$005$\x01salt")] if self.clone_exists else []
        if query.startswith("SHOW GRANTS"):
            return [("GRANT USAGE ON *.* TO `app_clone`@`%`",)]
        if query.startswith("SELECT ssl_type"):
            return [("", b"", b"", b"", 0, 0, 0, 0, "N", 0)]
        return []

    def run(
        self, session: MySQLSession, query: Any, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        self.sent.append(render((query, tuple(params))))
        if query.startswith(("GRANT", "REVOKE", "ALTER")):
            self.written = True
        if not query.startswith(("SELECT", "SHOW")):
            return []
        return self.clone(query) if "app_clone" in params else self.base(query)


def on_mysql_8() -> MySQLSession:
    """A session whose server is known (MySQL 8) and which has no connection."""
    return MySQLSession(cast(Any, None), cast(Any, None), MYSQL8)


def sync_clone(fake: FakeMySQL8, monkeypatch: pytest.MonkeyPatch, password: str) -> bool:
    """The rotator's sync_clone hook, its statements answered by `fake`."""
    monkeypatch.setattr(clone, "run", fake.run)
    return MySQLRotator(env={}).sync_clone(on_mysql_8(), "app", "app_clone", password)


def test_sync_clone_on_mysql_8_creates_every_host_and_copies_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeMySQL8(clone_exists=False)
    assert sync_clone(fake, monkeypatch, "Pw1!new") is True
    writes = [s for s in fake.sent if not s.startswith(("SELECT", "SHOW"))]
    mark = """ATTRIBUTE '{\\"smrotate_clone_of\\": \\"app\\"}'"""  # the clone mark
    assert writes[:3] == [
        "CREATE USER 'app_clone'@'%' IDENTIFIED WITH 'mysql_native_password' BY 'Pw1!new' " + mark,
        "CREATE USER 'app_clone'@'10.0.%' IDENTIFIED WITH 'mysql_native_password' BY 'Pw1!new' "
        + mark,
        "SET SESSION sql_quote_show_create = 1, sql_mode = ''",
    ]
    host_plan = writes[3 : writes.index("GRANT 'reader'@'%' TO 'app_clone'@'%'") + 4]
    assert host_plan[-4:] == [
        "GRANT 'reader'@'%' TO 'app_clone'@'%'",
        "GRANT 'writer'@'localhost' TO 'app_clone'@'%' WITH ADMIN OPTION",
        "ALTER USER 'app_clone'@'%' DEFAULT ROLE 'reader'@'%'",
        "ALTER USER 'app_clone'@'%' REQUIRE X509",
    ]
    assert (
        "ALTER USER 'app_clone'@'%' WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 5 "
        "MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 2" in writes
    )
    assert "REVOKE INSERT ON `mysql`.* FROM 'app_clone'@'%'" in writes
    assert "ALTER USER 'app_clone'@'%' ACCOUNT LOCK" in writes  # a locked base locks its clone
    assert not any("gone" in s for s in fake.sent if "DEFAULT ROLE" in s)


def test_sync_clone_on_mysql_8_copies_the_hash_to_a_new_host_of_an_existing_clone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeMySQL8(clone_exists=True)
    assert sync_clone(fake, monkeypatch, "Pw1!pending") is False
    creates = [s for s in fake.sent if s.startswith("CREATE USER")]
    assert creates == [
        "CREATE USER 'app_clone'@'10.0.%' IDENTIFIED WITH 'caching_sha2_password' "
        """AS '$A$005$\x01salt' ATTRIBUTE '{\\"smrotate_clone_of\\": \\"app\\"}'"""
    ]
    assert not any("Pw1!pending" in s for s in fake.sent)


def test_the_native_plugin_is_read_from_mariadbs_own_grants() -> None:
    native = "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2B60229' REQUIRE SSL"
    ed25519 = "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED VIA ed25519 USING 'K+/v+2q3e'"
    either = (
        "GRANT ALL ON *.* TO `r`@`l` IDENTIFIED VIA mysql_native_password USING '*A' OR unix_socket"
    )
    fake = "GRANT USAGE ON *.* TO `app`@`%` REQUIRE SUBJECT 'IDENTIFIED BY PASSWORD'"
    assert identified_by_native_hash(["GRANT `r` TO `app`@`%`", native])
    assert not identified_by_native_hash([ed25519])
    assert not identified_by_native_hash([either])
    assert not identified_by_native_hash([fake])
    assert not identified_by_native_hash(["GRANT USAGE ON *.* TO `a`@`%` \x01"])


# ---------------------------------------------------------------- admin-level rights


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (["GRANT PROCESS, RELOAD, SHUTDOWN, BINLOG MONITOR ON *.* TO `u`@`%`"], None),
        (["GRANT SELECT, SHOW VIEW ON `mysql`.* TO `u`@`%`"], None),
        (["GRANT ALL PRIVILEGES ON `shop_x`.* TO `u`@`%` WITH GRANT OPTION"], None),
        (
            ["GRANT SELECT ON `my\\_sql`.* TO `u`@`%`", "GRANT INSERT ON `my\\_sql`.* TO `u`@`%`"],
            None,
        ),
        (["GRANT PROXY ON `reader`@`` TO `u`@`%`"], None),
        (["GRANT ALL PRIVILEGES ON *.* TO `u`@`%`"], "ALL PRIVILEGES on *.*"),
        (["GRANT SELECT, CREATE USER ON *.* TO `u`@`%`"], "CREATE USER on *.*"),
        (["GRANT FILE ON *.* TO `u`@`%`"], "FILE on *.*"),
        (["GRANT SUPER ON *.* TO `ops`"], "SUPER on *.*"),  # a MariaDB role: no host
        (["GRANT SELECT ON *.* TO `u`@`%` WITH GRANT OPTION"], "GRANT OPTION on *.*"),
        (["GRANT DELETE ON `mysql`.* TO `u`@`%`"], "DELETE on the mysql database"),
        (
            ["GRANT UPDATE (`Priv`) ON `mysql`.`global_priv` TO `u`@`%`"],
            "UPDATE on the mysql database",
        ),
        (["GRANT INSERT ON `m%`.* TO `u`@`%`"], "INSERT on the mysql database"),
        (
            ["GRANT SELECT ON `mysq_`.* TO `u`@`%` WITH GRANT OPTION"],
            "GRANT OPTION on the mysql database",
        ),
        (["GRANT PROXY ON ``@`%` TO `u`@`h`"], "PROXY on ''@'%'"),
        (["GRANT PROXY ON `app`@`%` TO `u`@`h` WITH GRANT OPTION"], "PROXY on 'app'@'%'"),
        (["GRANT SET_USER_ID ON *.* TO `u`@`%`"], "SET_USER_ID on *.*"),  # MySQL 8 dynamic
        (
            ["GRANT BACKUP_ADMIN ON *.* TO `u`@`%` WITH GRANT OPTION"],
            "BACKUP_ADMIN WITH GRANT OPTION on *.*",
        ),
    ],
)
def test_admin_level_rights(lines: list[str], reason: str | None) -> None:
    assert admin_level(parse_grants(lines)) == reason


@pytest.mark.parametrize(
    ("pattern", "covers"),
    [("mysql", True), ("m%", True), ("%", True), ("MYSQL", True), ("mysq_", True),
     ("my\\_sql", False), ("mysql\\_%", False), ("m\\%", False), ("shop_x", False)],
)  # fmt: skip
def test_database_wildcards(pattern: str, covers: bool) -> None:
    assert like(pattern, "mysql") is covers
