"""An account's rows and facts, and the alternating-users clone kept equal to its base user.

Each function takes the admin's session and sends every statement through `session.run`.
The clone mark, and what it proves: docs/mysql.md#the-clone-mark.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from smrotate.errors import TargetError
from smrotate.password_rotator import AccountFacts
from smrotate.rotators.mysql import grants, sql
from smrotate.rotators.mysql.session import run, server_of
from smrotate.rotators.mysql.sql import PASSWORD_PLUGINS, Role, Server, Sql

if TYPE_CHECKING:
    from smrotate.rotators.mysql.session import MySQLSession

PASSES = 2  # a second pass settles what the first could not (ALL PRIVILEGES narrowed)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class AccountRow(NamedTuple):  # one host row of a user
    host: str
    plugin: str
    auth: str  # the stored hash


def account_rows(admin: MySQLSession, user: str) -> list[AccountRow]:
    """Every host row of `user`, roles left out (none when the user does not exist)."""
    server = server_of(admin)
    text = sql.ACCOUNTS_NOT_ROLES if server.mariadb and server.has_roles else sql.ACCOUNTS
    return [AccountRow(*map(_text, row)) for row in run(admin, text, (user,))]


def password_accounts(admin: MySQLSession, user: str) -> list[AccountRow]:
    """Every host row of `user`; TargetError when there is none, or one has no password."""
    server, rows = server_of(admin), account_rows(admin, user)
    if not rows:
        raise TargetError(f"user {user!r} has no account on this {server} server; create it first")
    for row in rows:
        if row.plugin not in PASSWORD_PLUGINS[server.flavour]:
            raise TargetError(
                f"account {user!r}@{row.host!r} authenticates with {row.plugin!r}, which takes "
                "no password; smrotate rotates password accounts only"
            )
    return rows


def read_grants(admin: MySQLSession, statement: Sql, who: str) -> grants.Grants:
    """The privileges SHOW GRANTS (`statement`) lists; TargetError when it cannot be read."""
    try:
        return grants.parse_grants(_text(row[0]) for row in run(admin, *statement))
    except grants.GrantParseError as exc:
        raise TargetError(f"cannot read SHOW GRANTS for {who}: {exc}") from None


def account_facts(admin: MySQLSession, user: str) -> AccountFacts:
    """Whether `user` has rows; why it has admin-level rights (`grants.admin_level`), its own
    or through any role granted to it, directly or through other roles; the base that the
    clone mark on all its rows names (None when a row has none, or they disagree)."""
    server = server_of(admin)
    run(admin, sql.ADMIN_SESSION)
    rows = account_rows(admin, user)
    if not rows:
        return AccountFacts(exists=False)
    todo: list[tuple[Role, bool]] = [((user, row.host), False) for row in rows]
    seen: set[Role] = set()
    privileged = None
    while todo and privileged is None:
        (name, host), is_role = todo.pop()
        shown = (sql.SHOW_GRANTS, (name, host))
        shown = sql.with_role(server, (name, host), sql.ROLE_GRANTS) if is_role else shown
        reason = grants.admin_level(read_grants(admin, shown, f"{name!r}@{host!r}"))
        if reason:
            privileged = f"{reason} through role {name!r}" if is_role else reason
        elif server.has_roles:
            found = run(admin, sql.GRANTED_ROLES[server.flavour], (name, host))
            for role in [(_text(r[0]), _text(r[1])) for r in found]:
                if role not in seen:
                    seen.add(role)
                    todo.append((role, True))
    mark = None
    if server.marks_clones:
        marked = run(admin, sql.CLONE_MARKS[server.flavour], (user,))
        marks = {_text(host): None if base is None else _text(base) for host, base in marked}
        bases = {marks.get(row.host) for row in rows}
        mark = bases.pop() if len(bases) == 1 else None
    return AccountFacts(exists=True, privileged=privileged, clone_of=mark)


@dataclass(frozen=True)
class AccountState:
    """What one account row holds, as compared between the base and its clone."""

    grants: grants.Grants
    roles: frozenset[tuple[Role, bool]]  # (role, admin option)
    default_roles: frozenset[Role]
    require: tuple[str, str, str, str]  # ssl_type, cipher, issuer, subject
    limits: tuple[int, int, int, int]
    statement_time: Decimal  # MariaDB's MAX_STATEMENT_TIME, seconds (0: none)
    locked: bool  # ACCOUNT LOCK


def read_state(admin: MySQLSession, user: str, host: str) -> AccountState:
    """The privileges, roles, default roles, REQUIRE, limits and lock of `user@host`."""
    server, account = server_of(admin), (user, host)
    held = read_grants(admin, (sql.SHOW_GRANTS, account), f"{user!r}@{host!r}")
    roles, defaults = frozenset[tuple[Role, bool]](), frozenset[Role]()
    if server.has_roles:
        found = run(admin, sql.GRANTED_ROLES[server.flavour], account)
        roles = frozenset(((_text(r[0]), _text(r[1])), _text(r[2]).upper() == "Y") for r in found)
        found = run(admin, sql.DEFAULT_ROLES[server.flavour], account)
        granted = {role for role, _ in roles}  # a default role no longer granted does nothing
        defaults = frozenset((_text(r[0]), _text(r[1])) for r in found) & granted
    options = run(admin, sql.account_options(server), account)
    if not options:
        raise TargetError(f"account {user!r}@{host!r} disappeared during the rotation")
    row = [_text(value) for value in options[0]]
    require = (row[0].upper(), row[1], row[2], row[3])
    limits = (int(row[4]), int(row[5]), int(row[6]), int(row[7]))
    locked, time = row[8].upper() == "Y", Decimal(row[9] or "0")
    return AccountState(held, roles, defaults, require, limits, time, locked)


def plan_account(
    server: Server, want: AccountState, have: AccountState, account: Role
) -> list[Sql]:
    """Statements that give `account` (holding `have`) exactly `want`; empty when equal.
    Roles are granted before the default roles are set, and revoked after."""
    plan = grants.plan_privileges(want.grants, have.grants, *account)
    wanted, held = dict(want.roles), dict(have.roles)
    for role, option in sorted(wanted.items()):
        if held.get(role) and not option:  # narrowing the admin option
            plan.append(sql.with_role(server, role, sql.REVOKE_ROLE, *account))
        if held.get(role) != option:
            plan.append(sql.with_role(server, role, sql.GRANT_ROLE[option], *account))
    if want.default_roles != have.default_roles:
        plan.append(sql.set_default_roles(server, want.default_roles, *account))
    revoked = sorted(set(held) - set(wanted))
    plan += [sql.with_role(server, role, sql.REVOKE_ROLE, *account) for role in revoked]
    if want.require != have.require:
        plan.append(sql.require(*account, want.require))
    if want.limits != have.limits:
        plan.append((sql.LIMITS, (*account, *want.limits)))
    if want.statement_time != have.statement_time:
        plan.append((sql.STATEMENT_TIME, (*account, want.statement_time)))
    if want.locked != have.locked:
        plan.append((sql.ACCOUNT_LOCK[want.locked], account))
    return plan


def sync_clone(admin: MySQLSession, base: str, clone: str, password: str) -> bool:
    """Give `clone` every host row of `base`, each holding exactly what the base's row for the
    same host holds, and no other row; True if it created the clone. A new clone gets
    `password` under the base's plugin; a row added to an existing clone copies the plugin and
    hash of one of its rows. Every row is created marked: on MySQL in its CREATE USER; on
    MariaDB under a staging name, then marked and renamed (a crash leaves a staging row, which
    the next run drops). TargetError when the rights still differ after PASSES passes."""
    server = server_of(admin)
    if not server.marks_clones:
        raise TargetError(
            f"this {server} server has nowhere to mark a clone as smrotate's (MariaDB 10.4+ or "
            "MySQL 8.0.21+ needed), so alternating users cannot tell its clone from an account "
            "someone else made; use the single-user-via-admin strategy"
        )
    base_rows = password_accounts(admin, base)
    staging = "smrotate_new_" + hashlib.sha256(clone.encode()).hexdigest()[:16]
    for row in account_rows(admin, staging) if server.mariadb else ():
        run(admin, sql.DROP_USER, (staging, row.host))
    clone_rows = {row.host: row for row in account_rows(admin, clone)}
    like = next(iter(clone_rows.values()), None)
    for host, plugin in ((r.host, r.plugin) for r in base_rows if r.host not in clone_rows):
        text, params = sql.create_user(server, clone, host, plugin, password)
        if like is not None:
            text, params = (
                sql.CREATE_USER_LIKE[server.flavour],
                (clone, host, like.plugin, like.auth),
            )
        if not server.mariadb:
            run(admin, *sql.with_mark((text, params), base))
            continue
        run(admin, text, (staging, *params[1:]))
        run(admin, sql.MARK_ROW, (base, staging, host))
        run(admin, sql.RENAME_USER, (staging, host, clone, host))
    for host in sorted(set(clone_rows) - {row.host for row in base_rows}):
        run(admin, sql.DROP_USER, (clone, host))
    run(admin, sql.ADMIN_SESSION)
    for host in (row.host for row in base_rows):
        want = read_state(admin, base, host)
        for done in range(PASSES + 1):
            plan = plan_account(server, want, read_state(admin, clone, host), (clone, host))
            if not plan:
                break
            if done == PASSES:
                raise TargetError(
                    f"the rights of {clone!r}@{host!r} still differ from those of {base!r}@"
                    f"{host!r} after {PASSES} passes; compare SHOW GRANTS of both accounts"
                )
            for statement in plan:
                run(admin, *statement)
    return like is None
