"""Keep an alternating-users clone in step with its base user on MySQL and MariaDB.

An account is `user@host`. `sync_clone` gives the clone a row for every host row of the base
(and drops clone rows whose host the base no longer has), then makes each clone row hold
exactly what the base's row for the same host holds: privileges (`mysql_grants`), granted
roles with their admin option, default roles, REQUIRE, and resource limits. It runs on every
rotation, so what the base gained or lost since the last one follows. Every statement goes
through `run`, the rotator's `execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from framework.errors import Failure, TargetError
from rotators import mysql_dialect as sql
from rotators.mysql_dialect import Role, Server, Sql
from rotators.mysql_grants import GrantParseError, Grants, parse_grants, plan_privileges

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


def read_state(run: Run, server: Server, user: str, host: str) -> AccountState:
    """The privileges, roles, default roles, REQUIRE and limits of `user@host`."""
    lines = [_text(row[0]) for row in _rows(run, sql.show_grants(user, host))]
    try:
        grants = parse_grants(lines)
    except GrantParseError as exc:
        raise TargetError(
            f"cannot read SHOW GRANTS for {user!r}@{host!r}: {exc}", Failure.OTHER
        ) from None
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
    options = _rows(run, sql.account_options(user, host))
    if not options:
        raise TargetError(f"account {user!r}@{host!r} disappeared during the rotation")
    row = options[0]
    return AccountState(
        grants,
        roles,
        defaults,
        (_text(row[0]).upper(), _text(row[1]), _text(row[2]), _text(row[3])),
        (int(row[4]), int(row[5]), int(row[6]), int(row[7])),
    )


def plan_account(
    server: Server, want: AccountState, have: AccountState, user: str, host: str
) -> list[Sql]:
    """Statements that give `user@host` (holding `have`) exactly `want`; empty when equal.

    Order: privileges, role grants, default roles, role revokes, REQUIRE, limits, so that a
    default role is granted before it is set, and unset before it is revoked.
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


def sync_clone(run: Run, server: Server, base: str, clone: str, password: str) -> bool:
    """Give `clone` every host row of `base` with the same rights; True if it created it.

    A new clone gets `password` under the base's plugin. A host row added to an existing
    clone copies the plugin and hash of one of its rows, so it has the clone's password.
    """
    base_rows = password_accounts(run, server, base)
    clone_rows = {row.host: row for row in account_rows(run, server, clone)}
    template = next(iter(clone_rows.values()), None)
    for row in base_rows:
        if row.host in clone_rows:
            continue
        if template is None:
            _rows(run, sql.create_user(server, clone, row.host, row.plugin, password))
        else:
            _rows(
                run,
                sql.create_user_like(server, clone, row.host, template.plugin, template.auth),
            )
    for host in sorted(set(clone_rows) - {row.host for row in base_rows}):
        _rows(run, sql.drop_user(clone, host))
    _rows(run, sql.admin_session())
    for row in base_rows:
        sync_account(run, server, base, clone, row.host)
    return template is None
