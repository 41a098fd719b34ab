"""Keep an alternating-users clone in step with its base user on MySQL and MariaDB.

An account is `user@host`. `sync_clone` gives the clone a row for every host row of the base
(and drops clone rows whose host the base no longer has), then makes each clone row hold
exactly what the base's row for the same host holds: privileges (`grants`), granted
roles with their admin option, default roles, REQUIRE, resource limits, MAX_STATEMENT_TIME
(MariaDB) and ACCOUNT LOCK. It runs on every rotation, so what the base gained or lost since
the last one follows. Every statement goes through `run`, the rotator's `execute`.

The clone mark. A clone is trusted only if smrotate made it, so every clone row carries the
name of its base, written when the row is created and never after:
- MySQL 8.0.21+: the account's ATTRIBUTE `{"smrotate_clone_of": base}`, in the CREATE USER.
- MariaDB 10.4+, which has no account comment or attribute: a `smrotate_clone_of` key in the
  row's JSON in mysql.global_priv. Only UPDATE on that table writes it (account statements
  keep it; RENAME USER carries it), so a row is created under a staging name, marked, then
  renamed: other sessions never see an unmarked clone row, and a crash leaves at most a
  staging account, dropped by the next run.
What the mark proves: an account holding only CREATE USER cannot forge the MariaDB mark (it
can forge MySQL's ATTRIBUTE, but on both servers CREATE USER already lets its holder set any
unprotected account's password, so it gains nothing through smrotate). The secret is no
witness: whoever writes it chooses every field, so nothing in it is trusted as a mark.
Older servers (MySQL before 8.0.21, MariaDB before 10.4) have nowhere to put a mark: the
clone is refused there, and alternating users with it. A clone made before marks existed is
refused too; once its rights are checked by hand, mark it: `ALTER USER 'x_clone'@'%'
ATTRIBUTE '{"smrotate_clone_of": "x"}'` (MySQL), `UPDATE mysql.global_priv SET Priv =
JSON_SET(Priv, '$.smrotate_clone_of', 'x') WHERE User = 'x_clone'` (MariaDB).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from smrotate.errors import Failure, TargetError
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.grants import (
    GrantParseError,
    Grants,
    admin_level,
    parse_grants,
    plan_privileges,
)
from smrotate.rotators.mysql.sql import Role, Server, Sql

Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
_PASSES = 2  # a second pass settles what the first could not (ALL PRIVILEGES narrowed)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _rows(run: Run, statement: Sql) -> list[tuple[Any, ...]]:
    return run(statement[0], statement[1])


@dataclass(frozen=True)
class AccountRow:
    """One host row of a user: its authentication plugin and stored hash."""

    host: str
    plugin: str
    auth: str = ""


def account_rows(run: Run, server: Server, user: str) -> list[AccountRow]:
    """Every host row of `user` (none when the user does not exist)."""
    return [
        AccountRow(_text(r[0]), _text(r[1]), _text(r[2]))
        for r in _rows(run, sql.accounts(server, user))
    ]


def password_accounts(run: Run, server: Server, user: str) -> list[AccountRow]:
    """Every host row of `user`; TargetError when there is none, or one has no password."""
    rows = account_rows(run, server, user)
    if not rows:
        raise TargetError(
            f"user {user!r} has no account on this {server} server; create it first",
            Failure.OTHER,
        )
    for row in rows:
        if row.plugin not in server.password_plugins:
            raise TargetError(
                f"account {user!r}@{row.host!r} authenticates with {row.plugin!r}, which takes "
                "no password; smrotate rotates password accounts only",
                Failure.OTHER,
            )
    return rows


@dataclass(frozen=True)
class AccountState:
    """What one account row holds, as compared between the base and its clone."""

    grants: Grants
    roles: frozenset[tuple[Role, bool]]  # (role, admin option)
    default_roles: frozenset[Role]
    require: tuple[str, str, str, str]  # ssl_type, cipher, issuer, subject
    limits: tuple[int, int, int, int]
    statement_time: Decimal = Decimal(0)  # MariaDB's MAX_STATEMENT_TIME, seconds (0: none)
    locked: bool = False  # ACCOUNT LOCK


def read_grants(run: Run, statement: Sql, who: str) -> Grants:
    """The privileges SHOW GRANTS (`statement`) lists; TargetError when it cannot be read."""
    lines = [_text(row[0]) for row in _rows(run, statement)]
    try:
        return parse_grants(lines)
    except GrantParseError as exc:
        raise TargetError(f"cannot read SHOW GRANTS for {who}: {exc}", Failure.OTHER) from None


def read_state(run: Run, server: Server, user: str, host: str) -> AccountState:
    """The privileges, roles, default roles, REQUIRE, limits and lock of `user@host`."""
    grants = read_grants(run, sql.show_grants(user, host), f"{user!r}@{host!r}")
    roles: frozenset[tuple[Role, bool]] = frozenset()
    defaults: frozenset[Role] = frozenset()
    if server.has_roles:
        roles = frozenset(
            ((_text(r[0]), _text(r[1])), _text(r[2]).upper() == "Y")
            for r in _rows(run, sql.granted_roles(server, user, host))
        )
        granted = {role for role, _ in roles}
        defaults = (
            frozenset(
                (_text(r[0]), _text(r[1]))
                for r in _rows(run, sql.default_roles(server, user, host))
            )
            & granted
        )  # a default role no longer granted does nothing
    options = _rows(run, sql.account_options(server, user, host))
    if not options:
        raise TargetError(f"account {user!r}@{host!r} disappeared during the rotation")
    row = options[0]
    return AccountState(
        grants,
        roles,
        defaults,
        (_text(row[0]).upper(), _text(row[1]), _text(row[2]), _text(row[3])),
        (int(row[4]), int(row[5]), int(row[6]), int(row[7])),
        Decimal(_text(row[9]) or "0"),
        _text(row[8]).upper() == "Y",
    )


def plan_account(
    server: Server, want: AccountState, have: AccountState, user: str, host: str
) -> list[Sql]:
    """Statements that give `user@host` (holding `have`) exactly `want`; empty when equal.

    Order: privileges, role grants, default roles, role revokes, REQUIRE, limits, statement
    time, lock, so that a default role is granted before it is set, and unset before it is
    revoked.
    """
    plan = plan_privileges(want.grants, have.grants, user, host)
    wanted, held = dict(want.roles), dict(have.roles)
    revokes = []
    for role, admin in sorted(wanted.items()):
        if role in held and held[role] and not admin:  # narrowing the admin option
            plan.append(sql.revoke_role(server, role, user, host))
        if role not in held or held[role] != admin:
            plan.append(sql.grant_role(server, role, user, host, admin))
    for role in sorted(set(held) - set(wanted)):
        revokes.append(sql.revoke_role(server, role, user, host))
    if want.default_roles != have.default_roles:
        plan.append(sql.set_default_roles(server, want.default_roles, user, host))
    plan += revokes
    if want.require != have.require:
        plan.append(sql.require(user, host, want.require))
    if want.limits != have.limits:
        plan.append(sql.limits(user, host, want.limits))
    if want.statement_time != have.statement_time:
        plan.append(sql.statement_time(user, host, want.statement_time))
    if want.locked != have.locked:
        plan.append(sql.account_lock(user, host, want.locked))
    return plan


def sync_account(run: Run, server: Server, base: str, clone: str, host: str) -> None:
    """Make `clone@host` hold exactly what `base@host` holds; TargetError if it cannot."""
    want = read_state(run, server, base, host)
    for _ in range(_PASSES):
        plan = plan_account(server, want, read_state(run, server, clone, host), clone, host)
        if not plan:
            return
        for statement in plan:
            _rows(run, statement)
    if plan_account(server, want, read_state(run, server, clone, host), clone, host):
        raise TargetError(
            f"the rights of {clone!r}@{host!r} still differ from those of {base!r}@{host!r} "
            f"after {_PASSES} passes; compare SHOW GRANTS of both accounts",
            Failure.OTHER,
        )


def staging_name(clone: str) -> str:
    """The name a MariaDB clone row is created under before it is marked and renamed."""
    return "smrotate_new_" + hashlib.sha256(clone.encode()).hexdigest()[:16]


def _create_marked(run: Run, server: Server, base: str, clone: str, create: Sql) -> None:
    """Run `create` (a CREATE USER whose first parameters are `clone` and the host) so that
    the row appears already marked."""
    if not server.mariadb:
        _rows(run, sql.with_mark(create, base))
        return
    text, (_, host, *rest) = create
    staging = staging_name(clone)
    _rows(run, (text, (staging, host, *rest)))
    _rows(run, sql.mark_row(staging, host, base))
    _rows(run, sql.rename_user(staging, host, clone))


def sync_clone(run: Run, server: Server, base: str, clone: str, password: str) -> bool:
    """Give `clone` every host row of `base` with the same rights; True if it created it.

    A new clone gets `password` under the base's plugin. A host row added to an existing
    clone copies the plugin and hash of one of its rows, so it has the clone's password.
    Every row is created with the clone mark (see the module's docstring).
    """
    if not server.marks_clones:
        raise TargetError(
            f"this {server} server has nowhere to mark a clone as smrotate's (MariaDB 10.4+ or "
            "MySQL 8.0.21+ needed), so alternating users cannot tell its clone from an account "
            "someone else made; use the single-user-via-admin strategy",
            Failure.OTHER,
        )
    base_rows = password_accounts(run, server, base)
    if server.mariadb:  # a staging row left by a crash before its rename
        for row in account_rows(run, server, staging_name(clone)):
            _rows(run, sql.drop_user(staging_name(clone), row.host))
    clone_rows = {row.host: row for row in account_rows(run, server, clone)}
    template = next(iter(clone_rows.values()), None)
    for row in base_rows:
        if row.host in clone_rows:
            continue
        if template is None:
            create = sql.create_user(server, clone, row.host, row.plugin, password)
        else:
            create = sql.create_user_like(server, clone, row.host, template.plugin, template.auth)
        _create_marked(run, server, base, clone, create)
    for host in sorted(set(clone_rows) - {row.host for row in base_rows}):
        _rows(run, sql.drop_user(clone, host))
    _rows(run, sql.admin_session())
    for row in base_rows:
        sync_account(run, server, base, clone, row.host)
    return template is None


def clone_mark(run: Run, server: Server, user: str, rows: Sequence[AccountRow]) -> str | None:
    """The base that smrotate's mark on every row (`rows`) of `user` names; None when a row
    has no mark, the rows disagree, or the server cannot mark."""
    if not rows or not server.marks_clones:
        return None
    marks = {_text(host): mark for host, mark in _rows(run, sql.clone_marks(server, user))}
    found = {None if marks.get(row.host) is None else _text(marks[row.host]) for row in rows}
    return found.pop() if len(found) == 1 else None


def admin_reason(run: Run, server: Server, user: str, rows: Sequence[AccountRow]) -> str | None:
    """Why `user` (its host `rows`) has admin-level rights (`grants.admin_level`), its
    own or through any role granted to it, directly or through other roles; None if not."""
    todo: list[tuple[Role, bool]] = [((user, row.host), False) for row in rows]
    seen: set[Role] = set()
    while todo:
        (name, host), is_role = todo.pop()
        statement = (
            sql.show_role_grants(server, (name, host)) if is_role else sql.show_grants(name, host)
        )
        reason = admin_level(read_grants(run, statement, f"{name!r}@{host!r}"))
        if reason:
            return f"{reason} through role {name!r}" if is_role else reason
        if server.has_roles:
            for found in _rows(run, sql.granted_roles(server, name, host)):
                role = (_text(found[0]), _text(found[1]))
                if role not in seen:
                    seen.add(role)
                    todo.append((role, True))
    return None
