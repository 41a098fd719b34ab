"""An account's rows and facts, and the alternating-users clone kept equal to its base user
(docs/mysql.md), all read and written through the admin's session and `run`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from smrotate.errors import TargetError
from smrotate.password_rotator import AccountFacts
from smrotate.rotators.mysql import grants, sql
from smrotate.rotators.mysql.session import MySQLSession, run, server_of
from smrotate.rotators.mysql.sql import PASSWORD_PLUGINS, Role, Server, Sql

PASSES = 2  # a second pass settles what the first could not (ALL PRIVILEGES narrowed)
Row = tuple[str, str]  # an account row's plugin and stored hash


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def account_rows(admin: MySQLSession, user: str, passwords: bool = False) -> dict[str, Row]:
    """Every host row of `user` (host: plugin, stored hash), roles left out; TargetError if they
    must have `passwords` and there is none, or one has no password."""
    server = server_of(admin)
    text = sql.ACCOUNTS_NOT_ROLES if server.mariadb and server.has_roles else sql.ACCOUNTS
    rows = {_text(h): (_text(plugin), _text(auth)) for h, plugin, auth in run(admin, text, (user,))}
    if passwords and not rows:
        raise TargetError(f"user {user!r} has no account on this {server} server; create it first")
    for host, (plugin, _) in rows.items() if passwords else ():
        if plugin not in PASSWORD_PLUGINS[server.flavour]:
            raise TargetError(
                f"account {user!r}@{host!r} authenticates with {plugin!r}, which takes no "
                "password; smrotate rotates password accounts only"
            )
    return rows


def read_grants(admin: MySQLSession, account: Role, role: bool = False) -> grants.Grants:
    """The privileges SHOW GRANTS lists for `account` (a `role`); TargetError when unreadable."""
    shown = (sql.SHOW_GRANTS, account)
    shown = sql.with_role(server_of(admin), account, sql.ROLE_GRANTS) if role else shown
    try:
        return grants.parse_grants(_text(row[0]) for row in run(admin, *shown))
    except grants.GrantParseError as exc:
        who = f"{account[0]!r}@{account[1]!r}"
        raise TargetError(f"cannot read SHOW GRANTS for {who}: {exc}") from None


def account_facts(admin: MySQLSession, user: str) -> AccountFacts:
    """Whether `user` has rows; why its rights, or any role's it holds, are admin-level; the base
    the clone mark on all its rows names (None when a row has none, or they disagree). Read-only."""
    server = server_of(admin)
    run(admin, sql.ADMIN_SESSION)
    if not (rows := account_rows(admin, user)):
        return AccountFacts(exists=False)
    todo, seen = [((user, host), False) for host in rows], set[Role]()
    privileged = None
    while todo and privileged is None:
        account, is_role = todo.pop()
        if reason := grants.admin_level(read_grants(admin, account, is_role)):
            privileged = f"{reason} through role {account[0]!r}" if is_role else reason
        elif server.has_roles:
            found = run(admin, sql.GRANTED_ROLES[server.flavour], account)
            roles = [(_text(r[0]), _text(r[1])) for r in found]
            todo += [(role, True) for role in dict.fromkeys(roles) if role not in seen]
            seen.update(roles)
    marks: dict[str, str | None] = {}
    if server.marks_clones:
        marked = run(admin, sql.CLONE_MARKS[server.flavour], (user,))
        marks = {_text(host): _text(base) or None for host, base in marked}
    bases = {marks.get(host) for host in rows}
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
    held = read_grants(admin, account)
    roles, defaults = frozenset[tuple[Role, bool]](), frozenset[Role]()
    if server.has_roles:
        found = run(admin, sql.GRANTED_ROLES[server.flavour], account)
        roles = frozenset(((_text(r[0]), _text(r[1])), _text(r[2]).upper() == "Y") for r in found)
        found = run(admin, sql.DEFAULT_ROLES[server.flavour], account)
        granted = {role for role, _ in roles}  # a default role no longer granted does nothing
        defaults = frozenset((_text(r[0]), _text(r[1])) for r in found) & granted
    if not (options := run(admin, sql.account_options(server), account)):
        raise TargetError(f"account {user!r}@{host!r} disappeared during the rotation")
    row = [_text(value) for value in options[0]]
    require = (row[0].upper(), row[1], row[2], row[3])
    limits = (int(row[4]), int(row[5]), int(row[6]), int(row[7]))
    time, locked = Decimal(row[9] or "0"), row[8].upper() == "Y"
    return AccountState(held, roles, defaults, require, limits, time, locked)


def plan_account(server: Server, want: AccountState, have: AccountState, clone: Role) -> list[Sql]:
    """Statements that give the `clone` account (holding `have`) exactly `want`; empty if equal."""
    plan = grants.plan_privileges(want.grants, have.grants, *clone)
    wanted, held = dict(want.roles), dict(have.roles)
    for role, option in sorted(wanted.items()):
        if held.get(role) and not option:  # narrowing the admin option
            plan.append(sql.with_role(server, role, sql.REVOKE_ROLE, *clone))
        if held.get(role) != option:
            plan.append(sql.with_role(server, role, sql.GRANT_ROLE[option], *clone))
    if want.default_roles != have.default_roles:  # between granting and revoking roles
        plan.append(sql.set_default_roles(server, want.default_roles, *clone))
    revoked = sorted(set(held) - set(wanted))
    plan += [sql.with_role(server, role, sql.REVOKE_ROLE, *clone) for role in revoked]
    if want.require != have.require:
        plan.append(sql.require(*clone, want.require))
    if want.limits != have.limits:
        plan.append((sql.LIMITS, (*clone, *want.limits)))
    if want.statement_time != have.statement_time:
        plan.append((sql.STATEMENT_TIME, (*clone, want.statement_time)))
    if want.locked != have.locked:
        plan.append((sql.ACCOUNT_LOCK[want.locked], clone))
    return plan


def sync_clone(admin: MySQLSession, base: str, clone: str, password: str) -> bool:
    """Give `clone` every host row of `base` and no other, each created marked (docs/mysql.md) and
    holding exactly what the base's row for its host holds; True if it created the clone (with
    `password`). Idempotent. TargetError when they still differ after PASSES passes."""
    server = server_of(admin)
    if not server.marks_clones:
        raise TargetError(
            f"this {server} server has nowhere to mark a clone as smrotate's (MariaDB 10.4+ and "
            "MySQL 8.0.21+ have): use the single-user-via-admin strategy"
        )
    base_rows = account_rows(admin, base, passwords=True)
    staging = "smrotate_new_" + hashlib.sha256(clone.encode()).hexdigest()[:16]
    for host in account_rows(admin, staging) if server.mariadb else ():  # a crash's leftovers
        run(admin, sql.DROP_USER, (staging, host))
    clone_rows = account_rows(admin, clone)
    like = next(iter(clone_rows.values()), None)
    name = staging if server.mariadb else clone  # MariaDB: marked before it takes the name
    for host in (h for h in base_rows if h not in clone_rows):
        create = sql.create_user(server, name, host, base_rows[host][0], password)
        if like is not None:  # a row added to an existing clone gets its password
            create = sql.CREATE_USER_LIKE[server.flavour], (name, host, *like)
        if not server.mariadb:
            run(admin, *sql.with_mark(create, base))
            continue
        run(admin, *create)
        run(admin, sql.MARK_ROW, (base, staging, host))
        run(admin, sql.RENAME_USER, (staging, host, clone, host))
    for host in sorted(set(clone_rows) - set(base_rows)):
        run(admin, sql.DROP_USER, (clone, host))
    run(admin, sql.ADMIN_SESSION)
    for host in base_rows:
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
