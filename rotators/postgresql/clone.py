"""What the admin does with PostgreSQL roles: facts about a role, passwords, the clone.

`sync_clone` marks the clone it creates (`COMMENT ON ROLE ... IS 'smrotate: clone of <base>'`)
and refuses an unmarked one. On PostgreSQL 15 a CREATEROLE role could forge the mark, but it
can already grant itself any non-superuser role; what it cannot grant makes a role privileged
(`account_facts`): SUPERUSER, CREATEROLE, REPLICATION, BYPASSRLS, its own or those of a role it
can SET ROLE to, and membership in pg_execute_server_program, pg_read_server_files or
pg_write_server_files. PostgreSQL 16+ (coded by version, untested: the suite runs 15): a clone
on which a non-superuser other than the admin holds ADMIN OPTION is refused, revokes name their
grantor. After each rotation the clone equals the base (see `sync_clone`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smrotate import redaction
from smrotate.errors import TargetError
from smrotate.password_rotator import AccountFacts
from smrotate.rotators.postgresql.sql import (
    CLAUSES,
    DEPENDS,
    MARK,
    MEMBERSHIPS,
    NEW_ROLE,
    POWERS,
    REACH,
    ROLE,
    SERVER_ROLES,
    SETTINGS,
    run,
    setting_literals,
)

if TYPE_CHECKING:
    import psycopg

    Session = psycopg.Connection[Any]


def account_facts(admin: Session, username: str) -> AccountFacts:
    """Whether `username` exists, up to three reasons it is privileged, and its mark."""
    reasons: list[str] = []
    rows = run(admin, REACH, (username,))
    for name, *powers in rows:
        via = "" if name == username else f" through membership in {name!r}"
        reasons += [power + via for power, on in zip(POWERS, powers, strict=True) if on]
        reasons += [f"member of {name}"] if name in SERVER_ROLES else []
    mark = str(run(admin, ROLE, (username,))[0][9] or "") if rows else ""
    return AccountFacts(
        exists=bool(rows),
        privileged=", ".join(reasons[:3]) or None,
        clone_of=mark.removeprefix(MARK) if mark.startswith(MARK) else None,
    )


def set_password(admin: Session, username: str, password: str) -> None:
    """ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 verifier made here>'. Idempotent."""
    from psycopg import sql

    verifier = admin.pgconn.encrypt_password(password.encode(), b"", b"scram-sha-256").decode()
    redaction.register(verifier)
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}")
    run(admin, statement.format(sql.Identifier(username), sql.Literal(verifier)))


def sync_clone(admin: Session, base: str, clone: str, password: str) -> bool:
    """Create and mark `clone` (with `password`), or check its mark; then make it equal
    `base`: the same attributes, LOGIN or NOLOGIN included (a base disabled on purpose
    disables its clone), `_sync_memberships`, `_sync_settings`. A clone that owns anything
    or has direct rights in another database is refused; its direct rights here and on
    shared objects go with DROP OWNED (it owns nothing). One transaction: a crash or a
    refusal leaves the clone as it was. Idempotent; on an unchanged pair it only reads."""
    from psycopg.sql import SQL, Identifier, Literal

    def attributes(row: tuple[Any, ...]) -> tuple[Any, ...]:  # VALID UNTIL infinity: none
        return (*row[:7], None if row[7] == "infinity" else row[7], row[8])

    name = Identifier(clone)
    with admin.transaction():
        found, rows = run(admin, ROLE, (base,)), run(admin, ROLE, (clone,))
        if not found:
            raise TargetError(f"role {base!r} does not exist, so it cannot be cloned")
        if rows and rows[0][9] != MARK + base:
            raise TargetError(
                f"role {clone!r} exists but is not marked as smrotate's clone of {base!r}: "
                f"refusing it (if smrotate made it: COMMENT ON ROLE ... IS '{MARK}{base}')"
            )
        want, have = attributes(found[0]), attributes(rows[0]) if rows else NEW_ROLE
        # Only what differs: a non-superuser admin may not even name NOSUPERUSER.
        changes = SQL(" ").join(
            SQL(("" if value else "NO") + clause)
            if isinstance(value, bool)
            else SQL(clause + " {}").format(Literal("infinity" if value is None else value))
            for clause, value, old in zip(CLAUSES, want, have, strict=True)
            if value != old
        )
        if not rows:
            run(admin, SQL("CREATE ROLE {} {}").format(name, changes))
            mark = SQL("COMMENT ON ROLE {} IS {}").format(name, Literal(MARK + base))
            run(admin, mark)
            set_password(admin, clone, password)
        else:
            _refuse_own_objects(admin, base, clone)
            if want != have:
                run(admin, SQL("ALTER ROLE {} {}").format(name, changes))
        _sync_memberships(admin, base, clone)
        _sync_settings(admin, base, clone)
    return not rows


def _refuse_own_objects(admin: Session, base: str, clone: str) -> None:
    """TargetError when `clone` owns something or has direct rights in another database;
    else DROP OWNED BY it, which revokes its direct rights here and on shared objects."""
    from psycopg.sql import SQL, Identifier

    rows = run(admin, DEPENDS, (clone,))
    for deptype, here, dbname in rows:
        if deptype == "o" or not here:
            what = "owns objects" if deptype == "o" else "holds rights granted to it"
            raise TargetError(
                f"role {clone!r}, the clone of {base!r}, {what} in "
                f"{f'database {dbname!r}' if dbname else 'the cluster'}; a clone owns nothing "
                "and has only its base's rights: there, REASSIGN OWNED BY the clone TO the "
                "base, then DROP OWNED BY the clone"
            )
    if rows:
        run(admin, SQL("DROP OWNED BY {}").format(Identifier(clone)))


def _sync_memberships(admin: Session, base: str, clone: str) -> None:
    """The clone is a member of `base` without ADMIN OPTION and of nothing else, and no role
    but the admin is a member of the clone (revoked with CASCADE)."""
    from psycopg.sql import SQL, Identifier

    pg16, missing = admin.info.server_version >= 160000, True
    for group, member, option, superuser, grantor in run(admin, MEMBERSHIPS, (clone, clone)):
        if pg16 and group == clone and option and not superuser:
            raise TargetError(
                f"role {member!r} holds ADMIN OPTION on {clone!r}, so it could have made or "
                "marked it: refusing that clone (revoke the option, or drop the clone)"
            )
        keep = group == base and member == clone
        missing &= not keep
        if not keep or option:
            by = SQL(" GRANTED BY {}").format(Identifier(grantor)) if pg16 else SQL("")
            revoke = SQL("REVOKE {}{} FROM {}{} CASCADE").format(
                SQL("ADMIN OPTION FOR " if keep else ""), Identifier(group),
                Identifier(member), by,
            )  # fmt: skip
            run(admin, revoke)
    if missing:
        run(admin, SQL("GRANT {} TO {}").format(Identifier(base), Identifier(clone)))


def _sync_settings(admin: Session, base: str, clone: str) -> None:
    """Give `clone` the per-role settings of `base` (per database too), plus `role` = base,
    as literals: the admin's session never evaluates them."""
    from psycopg.sql import SQL, Identifier, Literal

    def settings(role: str) -> dict[tuple[str, str], tuple[str, ...]]:
        rows = run(admin, SETTINGS, (role,))
        entries = [(db, *entry.partition("=")) for db, entry in rows]
        return {(db, key): setting_literals(key, value) for db, key, _, value in entries}

    want = {key: value for key, value in settings(base).items() if key[1] != "role"}
    want["", "role"] = (base,)
    have = settings(clone)
    for db, key in sorted(want.keys() | have.keys()):
        if (value := want.get((db, key))) == have.get((db, key)):
            continue
        scope = SQL("IN DATABASE {}").format(Identifier(db)) if db else SQL("")
        role = SQL("ALTER ROLE {} {} ").format(Identifier(clone), scope)
        guc = Identifier(*key.split("."))
        if value is None:
            run(admin, role + SQL("RESET {}").format(guc))
        else:
            literals = SQL(", ").join(Literal(item) for item in value)
            run(admin, role + SQL("SET {} TO {}").format(guc, literals))
