"""Server detection and the SQL chosen per flavour and version, checked on the statements
generated (MySQL 8 cannot run here; MariaDB paths also run on the suite's server)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pymysql.converters
import pytest

from smrotate.errors import TargetError
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.sql import Server

MARIADB = Server("mariadb", (10, 11, 6))
MYSQL8 = Server("mysql", (8, 0, 36))


def render(statement: sql.Sql) -> str:
    """The text pymysql would send (its own escaping, backslash mode)."""
    text, params = statement
    return text % tuple(pymysql.converters.escape_item(p, "utf8mb4") for p in params)


@pytest.mark.parametrize(
    ("text", "flavour", "version"),
    [
        ("10.11.6-MariaDB-0+deb12u1", "mariadb", (10, 11, 6)),
        ("5.5.5-10.11.6-MariaDB-log", "mariadb", (10, 11, 6)),  # an old handshake's prefix
        ("11.4.2-MariaDB", "mariadb", (11, 4, 2)),
        ("10.4.34-MariaDB-1:10.4.34+maria~ubu2004-log", "mariadb", (10, 4, 34)),
        ("8.0.36", "mysql", (8, 0, 36)),
        ("8.0.36-0ubuntu0.22.04.1", "mysql", (8, 0, 36)),
        ("8.4.0-commercial", "mysql", (8, 4, 0)),
        ("5.7.44-log", "mysql", (5, 7, 44)),
        ("8.0.mysql_aurora.3.05.2", "mysql", (8, 0, 23)),
        ("5.7.mysql_aurora.2.11.2", "mysql", (5, 7, 12)),
        ("8.0.32", "mysql", (8, 0, 32)),
    ],
)
def test_the_version_string_is_read_as_flavour_and_number(
    text: str, flavour: str, version: tuple[int, int, int]
) -> None:
    assert Server.parse(text) == Server(flavour, version)


def test_a_version_without_a_number_is_a_clear_error() -> None:
    with pytest.raises(TargetError, match="holds no version number"):
        Server.parse("unknown")


@pytest.mark.parametrize(
    ("server", "limit"),
    [
        (MARIADB, 80),
        (Server("mariadb", (5, 5, 60)), 16),
        (MYSQL8, 32),
        (Server("mysql", (5, 7, 8)), 32),
        (Server("mysql", (5, 7, 7)), 16),
    ],
)
def test_user_name_limits(server: Server, limit: int) -> None:
    assert server.username_limit == limit


HASH = sql.native_hash("n'ew")


@pytest.mark.parametrize(
    ("server", "plugin", "expected"),
    [
        (MARIADB, "mysql_native_password", f"SET PASSWORD = '{HASH}'"),
        (MARIADB, "", "SET PASSWORD = PASSWORD('n\\'ew')"),  # plugin unknown: the server hashes
        (MYSQL8, "", "ALTER USER CURRENT_USER() IDENTIFIED BY 'n\\'ew' REPLACE 'cur'"),
        (Server("mysql", (8, 0, 12)), "", "ALTER USER CURRENT_USER() IDENTIFIED BY 'n\\'ew'"),
        (Server("mysql", (5, 7, 44)), "", "ALTER USER CURRENT_USER() IDENTIFIED BY 'n\\'ew'"),
        (Server("mysql", (5, 6, 51)), "", "SET PASSWORD = PASSWORD('n\\'ew')"),
    ],
)
def test_own_password(server: Server, plugin: str, expected: str) -> None:
    assert render(sql.own_password(server, "n'ew", "cur", plugin)) == expected


def test_the_native_hash() -> None:
    """mysql_native_password's stored form, as MariaDB's PASSWORD() computes it."""
    assert sql.native_hash("pw-1") == "*0C908AD93F67C171AD1942A253AEE176ABB70AC2"


@pytest.mark.parametrize(
    ("server", "plugin", "expected"),
    [
        (
            MYSQL8,
            "caching_sha2_password",
            "ALTER USER 'o\\'b'@'10.%' IDENTIFIED WITH 'caching_sha2_password' BY 'pw-1'",
        ),
        (
            MARIADB,
            "ed25519",
            "ALTER USER 'o\\'b'@'10.%' IDENTIFIED VIA 'ed25519' USING PASSWORD('pw-1')",
        ),
        (
            MARIADB,
            "mysql_native_password",
            "ALTER USER 'o\\'b'@'10.%' IDENTIFIED VIA 'mysql_native_password' "
            f"USING '{sql.native_hash('pw-1')}'",
        ),
        (
            Server("mariadb", (10, 3, 39)),
            "",
            f"SET PASSWORD FOR 'o\\'b'@'10.%' = '{sql.native_hash('pw-1')}'",
        ),
        (Server("mysql", (5, 6, 51)), "", "SET PASSWORD FOR 'o\\'b'@'10.%' = PASSWORD('pw-1')"),
    ],
)
def test_admin_sets_a_password_keeping_the_plugin(
    server: Server, plugin: str, expected: str
) -> None:
    assert render(sql.set_password(server, "o'b", "10.%", plugin, "pw-1")) == expected


def test_create_user_with_the_base_plugin_and_like_another_row() -> None:
    assert render(sql.create_user(MYSQL8, "c", "%", "mysql_native_password", "pw")) == (
        "CREATE USER 'c'@'%' IDENTIFIED WITH 'mysql_native_password' BY 'pw'"
    )
    assert render(sql.create_user(MARIADB, "c", "%", "mysql_native_password", "pw-1")) == (
        "CREATE USER 'c'@'%' IDENTIFIED VIA 'mysql_native_password' "
        "USING '*0C908AD93F67C171AD1942A253AEE176ABB70AC2'"
    )
    assert render(sql.create_user(MARIADB, "c", "%", "ed25519", "pw")) == (
        "CREATE USER 'c'@'%' IDENTIFIED VIA 'ed25519' USING PASSWORD('pw')"
    )
    # caching_sha2 hashes hold control characters: a parameter carries them unchanged
    stored = "$A$005$\x01\x1f'x\\salt0123456789" + "h" * 43
    text, params = sql.CREATE_USER_LIKE["mysql"], ("c", "h", "caching_sha2_password", stored)
    assert text == "CREATE USER %s@%s IDENTIFIED WITH %s AS %s"
    assert params[-1] == stored
    assert render((sql.CREATE_USER_LIKE["mariadb"], ("c", "h", "ed25519", "abc"))) == (
        "CREATE USER 'c'@'h' IDENTIFIED VIA 'ed25519' USING 'abc'"
    )


def test_accounts_skip_mariadb_roles() -> None:
    assert "is_role = 'N'" in sql.ACCOUNTS_NOT_ROLES
    assert "is_role" not in sql.ACCOUNTS


@pytest.mark.parametrize(
    ("required", "expected"),
    [
        (("", "", "", ""), "REQUIRE NONE"),
        (("ANY", "", "", ""), "REQUIRE SSL"),
        (("X509", "", "", ""), "REQUIRE X509"),
        (("SPECIFIED", "", "/CN=ca", "/CN=o'b"), "REQUIRE ISSUER '/CN=ca' AND SUBJECT '/CN=o\\'b'"),
        (
            ("SPECIFIED", "TLS_AES_256_GCM_SHA384", "", ""),
            "REQUIRE CIPHER 'TLS_AES_256_GCM_SHA384'",
        ),
    ],
)
def test_require(required: tuple[str, str, str, str], expected: str) -> None:
    assert render(sql.require("c", "%", required)) == f"ALTER USER 'c'@'%' {expected}"


def test_limits() -> None:
    assert render((sql.LIMITS, ("c", "%", 1, 2, 3, 4))) == (
        "ALTER USER 'c'@'%' WITH MAX_QUERIES_PER_HOUR 1 MAX_UPDATES_PER_HOUR 2 "
        "MAX_CONNECTIONS_PER_HOUR 3 MAX_USER_CONNECTIONS 4"
    )


def test_roles_on_mysql_8_are_accounts() -> None:
    role = ("reader", "%")
    assert render(sql.with_role(MYSQL8, role, sql.GRANT_ROLE[True], "c", "h")) == (
        "GRANT 'reader'@'%' TO 'c'@'h' WITH ADMIN OPTION"
    )
    revoke = sql.with_role(MYSQL8, role, sql.REVOKE_ROLE, "c", "h")
    assert render(revoke) == "REVOKE 'reader'@'%' FROM 'c'@'h'"
    assert render(sql.set_default_roles(MYSQL8, [("w", "%"), role], "c", "h")) == (
        "ALTER USER 'c'@'h' DEFAULT ROLE 'reader'@'%', 'w'@'%'"
    )
    assert render(sql.set_default_roles(MYSQL8, [], "c", "h")) == (
        "ALTER USER 'c'@'h' DEFAULT ROLE NONE"
    )
    assert "mysql.role_edges" in sql.GRANTED_ROLES["mysql"]
    assert "mysql.default_roles" in sql.DEFAULT_ROLES["mysql"]


def test_roles_on_mariadb_have_no_host() -> None:
    role = ("writer x", "")
    assert render(sql.with_role(MARIADB, role, sql.GRANT_ROLE[False], "c", "h")) == (
        "GRANT 'writer x' TO 'c'@'h'"
    )
    assert render(sql.set_default_roles(MARIADB, [role], "c", "h")) == (
        "SET DEFAULT ROLE 'writer x' FOR 'c'@'h'"
    )
    assert render(sql.set_default_roles(MARIADB, [], "c", "h")) == (
        "SET DEFAULT ROLE NONE FOR 'c'@'h'"
    )
    with pytest.raises(ValueError, match="at most one default role"):
        sql.set_default_roles(MARIADB, [role, ("r", "")], "c", "h")


def test_identifiers_are_quoted_for_pymysql() -> None:
    quoted = sql.quote_identifier("we`ird%db")
    assert quoted == "`we``ird%%db`"
    assert quoted % () == "`we``ird%db`"  # what the server receives
    with pytest.raises(ValueError, match="NUL"):
        sql.quote_identifier("a\x00b")


def test_every_value_is_a_parameter() -> None:
    """No builder puts a value into the template: a marker value never shows in the text."""
    marker = "V'\"`%;--"
    builders: list[Any] = [
        sql.own_password(MYSQL8, marker, marker),
        sql.set_password(MYSQL8, marker, marker, marker, marker),
        sql.set_password(MARIADB, marker, marker, marker, marker),
        sql.own_password(MARIADB, marker, marker, "ed25519"),
        sql.create_user(MYSQL8, marker, marker, marker, marker),
        (sql.CREATE_USER_LIKE["mariadb"], (marker, marker, marker, marker)),
        (sql.DROP_USER, (marker, marker)),
        sql.require(marker, marker, ("SPECIFIED", marker, marker, marker)),
        sql.with_role(MYSQL8, (marker, marker), sql.GRANT_ROLE[True], marker, marker),
        sql.set_default_roles(MYSQL8, [(marker, marker)], marker, marker),
        sql.set_default_roles(MARIADB, [(marker, "")], marker, marker),
        (sql.SHOW_GRANTS, (marker, marker)),
        (sql.ACCOUNTS_NOT_ROLES, (marker,)),
        sql.with_mark(sql.create_user(MYSQL8, marker, marker, marker, marker), marker),
        (sql.MARK_ROW, (marker, marker, marker)),
        (sql.CLONE_MARKS["mariadb"], (marker,)),
        (sql.CLONE_MARKS["mysql"], (marker,)),
        (sql.RENAME_USER, (marker, marker, marker, marker)),
        (sql.account_options(MARIADB), (marker, marker)),
        (sql.STATEMENT_TIME, (marker, marker, Decimal(1))),
        (sql.ACCOUNT_LOCK[False], (marker, marker)),
        sql.with_role(MARIADB, (marker, ""), sql.ROLE_GRANTS),
    ]
    for text, params in builders:
        assert marker not in text
        assert marker in params


MYSQL_8_0_20 = Server("mysql", (8, 0, 20))


def test_which_servers_can_mark_a_clone() -> None:
    assert MARIADB.marks_clones
    assert MYSQL8.marks_clones
    assert not MYSQL_8_0_20.marks_clones  # no account attributes before 8.0.21
    assert not Server("mariadb", (10, 3, 39)).marks_clones  # no mysql.global_priv


def test_the_clone_mark_on_mysql_is_an_attribute_and_on_mariadb_a_json_key() -> None:
    create = sql.create_user(MYSQL8, "c", "%", "caching_sha2_password", "pw")
    assert render(sql.with_mark(create, "o'b")) == (
        "CREATE USER 'c'@'%' IDENTIFIED WITH 'caching_sha2_password' BY 'pw' "
        """ATTRIBUTE '{\\"smrotate_clone_of\\": \\"o\\'b\\"}'"""
    )
    assert render((sql.MARK_ROW, ("o'b", "c", "%"))) == (
        "UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.smrotate_clone_of', 'o\\'b') "
        "WHERE User = 'c' AND Host = '%'"
    )
    assert "information_schema.USER_ATTRIBUTES" in sql.CLONE_MARKS["mysql"]
    assert "mysql.global_priv" in sql.CLONE_MARKS["mariadb"]
    assert render((sql.RENAME_USER, ("s", "%", "c", "%"))) == "RENAME USER 's'@'%' TO 'c'@'%'"


def test_account_options_per_server() -> None:
    """MariaDB: ACCOUNT LOCK from mysql.global_priv's JSON and MAX_STATEMENT_TIME; MySQL has
    account_locked in mysql.user and no per-account statement time."""
    mariadb = sql.account_options(MARIADB)
    assert "JSON_EXTRACT(g.Priv, '$.account_locked')" in mariadb
    assert mariadb.endswith("max_statement_time FROM mysql.user WHERE User = %s AND Host = %s")
    mysql = sql.account_options(MYSQL8)
    assert "account_locked, 0 FROM mysql.user" in mysql
    assert render((sql.STATEMENT_TIME, ("c", "%", Decimal("2.5")))) == (
        "ALTER USER 'c'@'%' WITH MAX_STATEMENT_TIME 2.5"
    )
    assert render((sql.ACCOUNT_LOCK[True], ("c", "%"))) == "ALTER USER 'c'@'%' ACCOUNT LOCK"


def test_a_roles_grants() -> None:
    shown = sql.with_role(MARIADB, ("ops", ""), sql.ROLE_GRANTS)
    assert render(shown) == "SHOW GRANTS FOR 'ops'"
    shown = sql.with_role(MYSQL8, ("ops", "%"), sql.ROLE_GRANTS)
    assert render(shown) == "SHOW GRANTS FOR 'ops'@'%'"


def test_the_constant_statements_render() -> None:
    """The fixed statements go through pymysql's %-formatting like every other one."""
    assert sql.VALIDATION_SETTINGS % () == (
        "SHOW GLOBAL VARIABLES WHERE Variable_name LIKE 'simple\\_password\\_check%' "
        "OR Variable_name LIKE 'cracklib\\_password\\_check%' "
        "OR Variable_name LIKE 'validate\\_password%' "
        "OR Variable_name = 'strict_password_validation'"
    )
    assert render((sql.LOCK_HOLDER, ("n", "n"))).count("IS_USED_LOCK('n')") == 2


@pytest.mark.parametrize(
    ("version", "dual"),
    [
        ("8.0.36", True),
        ("8.0.14", True),
        ("8.0.13", False),
        ("5.7.44-log", False),
        ("8.0.mysql_aurora.3.04.0", True),
        ("11.4.2-MariaDB", False),
    ],
)
def test_which_servers_keep_two_passwords(version: str, dual: bool) -> None:
    assert Server.parse(version).dual_passwords is dual


def test_the_dual_password_statement() -> None:
    statement = sql.dual_password(Server("mysql", (8, 0, 36)), "new-pw", "current-pw")
    assert statement == (
        "ALTER USER CURRENT_USER() IDENTIFIED BY %s REPLACE %s RETAIN CURRENT PASSWORD",
        ("new-pw", "current-pw"),
    )
    with pytest.raises(TargetError, match="MariaDB keeps one password per account"):
        sql.dual_password(Server("mariadb", (11, 4, 2)), "new-pw", "current-pw")
    with pytest.raises(TargetError, match=r"need MySQL 8\.0\.14"):
        sql.dual_password(Server("mysql", (8, 0, 13)), "new-pw", "current-pw")
