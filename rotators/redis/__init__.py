"""Rotates Redis (and Valkey) ACL user passwords, engine `redis`; how, and what the admin
refuses: docs/redis.md. Only `session.py` imports redis-py, in the steps that log in.

Every password change is one `ACL SETUSER <user> resetpass #<sha256>...`: the new password
reaches the server only as its hash, and only the passwords change (the user's key, channel and
command rules are never touched). In Redis a user that may run ACL SETUSER may change every
user: single-user, alternating-pair and dual-password need that right (docs/redis.md).
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from typing import ClassVar

from smrotate.accounts import SessionFacts
from smrotate.database import Database, DatabaseAccount
from smrotate.errors import Failure, TargetError
from smrotate.observability import logger
from smrotate.password_rotator import AccountFacts, PasswordRotator
from smrotate.rotators.redis.session import RedisSession, acl_hash, connect, replies, run

# Redis sets no limit on ACL user names (it refuses spaces and NUL); with no clones, the limit
# only bounds USERNAME_CHARACTER_LIMIT.
REDIS = Database(engines={"redis": 1024}, default_port=6379, names="Redis ACL user names")
OLD_SERVER = "the admin strategies need Redis 7.0 or later (ACL DRYRUN checks the user's rights)"
NO_SETUSER = (
    " may not run ACL SETUSER, which changing one's own password takes in Redis; and a user "
    "that may run it may change every user (Redis cannot limit it to one's own): use "
    "single-user-via-admin, or give +acl|setuser only to a user trusted with it (docs/redis.md)"
)


class RedisRotator(PasswordRotator[DatabaseAccount, RedisSession]):
    """Redis 7+ ACL passwords: single-user, single-user-via-admin, alternating-pair and
    dual-password. No clones (alternating-users): two passwords give one user name the same
    zero downtime."""

    schema: ClassVar[Database] = REDIS
    driver_module, driver_extra = "redis", "redis"  # pure Python: nothing native to check

    def login(self, account: DatabaseAccount) -> AbstractContextManager[RedisSession]:
        """One connection, AUTH once (never retried), TLS unless `"ssl": false`."""
        return connect(account)

    def session_facts(self, session: RedisSession) -> SessionFacts:
        """ACL WHOAMI, and whether the socket is TLS. For a user whose ACL refuses WHOAMI, the
        user AUTH accepted: Redis matches user names exactly (no anonymous or wildcard users)."""
        try:
            user = str(run(session, "ACL", "WHOAMI"))
        except TargetError as exc:
            if exc.failure is not Failure.PRIVILEGE:
                raise
            user = session.account.username
        return SessionFacts(user, None, session.tls)

    def _resetpass(
        self, session: RedisSession, username: str, *rules: str, own: bool = True
    ) -> None:
        """ACL SETUSER username resetpass <rules>: exactly these passwords, nothing else."""
        try:
            run(session, "ACL", "SETUSER", username, "resetpass", *rules)
        except TargetError as exc:
            if not own or exc.failure is not Failure.PRIVILEGE:
                raise
            who = session.account.describe()
            raise TargetError(who + NO_SETUSER, Failure.PRIVILEGE) from None

    def set_own_password(self, own: RedisSession, account: DatabaseAccount, password: str) -> None:
        """The user makes `password` its only password (needs +acl|setuser). Idempotent."""
        self._resetpass(own, account.username, acl_hash(password))

    def add_password(self, own: RedisSession, account: DatabaseAccount, password: str) -> bool:
        """The user keeps exactly `account.password` and `password`, set in one command.

        Always True: the command says which two passwords remain, whatever the server held, so
        running it again after a crash sets the same two hashes (no change) and can never drop
        AWSCURRENT's. The False answer exists for targets whose statement is relative to the
        current state (MySQL's RETAIN CURRENT PASSWORD, run twice, would drop it); here there
        is nothing to refuse. A third password, set by hand, is dropped like any older one."""
        self._resetpass(own, account.username, acl_hash(account.password), acl_hash(password))
        return True

    def set_password(self, admin: RedisSession, username: str, password: str) -> None:
        """As the admin. Idempotent. (Redis's SETUSER creates a missing user: one deleted since
        the guard's login would come back `off`, with no rights, so it cannot log in.)"""
        self._resetpass(admin, username, acl_hash(password), own=False)

    def account_facts(self, admin: RedisSession, username: str) -> AccountFacts:
        """ACL GETUSER, then ACL DRYRUN (the server's own check, selectors included) of every
        keyless @admin command: privileged when the user may run one, or has `nopass`. An
        admin command on keys (PFDEBUG, in @write too) reaches only keys the user may use
        already, so it does not count. Read-only."""
        user, names = replies(admin, ("ACL", "GETUSER", username), ("ACL", "CAT", "admin"))
        if user is None:
            return AccountFacts(exists=False)
        if "nopass" in dict(zip(user[::2], user[1::2], strict=True))["flags"]:
            return AccountFacts(True, "nopass: any password logs in, so a login proves nothing")
        [info] = replies(admin, ("COMMAND", "INFO", *sorted({n.split("|")[0] for n in names})))
        if any(len(cmd) < 10 for cmd in info if cmd):  # no key specs nor subcommands: Redis 6
            raise TargetError(f"{admin.account.describe()}: {OLD_SERVER}", Failure.OTHER)
        keyless = [sub for cmd in info if cmd for sub in [cmd, *cmd[9]] if not sub[8]]
        arity = {sub[0]: sub[1] for sub in keyless}  # [8]: the key specifications
        probes = [name for name in names if name in arity]
        answers = replies(admin, *[_dryrun(username, n, arity[n]) for n in probes], check=False)
        allowed = [name for name, answer in zip(probes, answers, strict=True) if answer == "OK"]
        unknown = sum(isinstance(answer, Exception) for answer in answers)
        if not allowed and not unknown:
            return AccountFacts(exists=True)
        such = ", ".join(sorted(allowed, key=lambda name: name != "acl|setuser")[:3])
        why = f"it may run @admin commands ({such})" if allowed else "it may run @admin commands"
        return AccountFacts(True, why + f"; ACL DRYRUN could not check {unknown}" * bool(unknown))

    def prove_same_server(self, own: RedisSession, admin: RedisSession, username: str) -> bool:
        """`own` takes a random CLIENT SETNAME; True when the admin's CLIENT LIST shows a client
        of `username` with that name. False, with a warning saying why, otherwise."""
        name = "smrotate-guard-" + secrets.token_hex(16)
        try:
            run(own, "CLIENT", "SETNAME", name)
        except TargetError as exc:
            if exc.failure is not Failure.PRIVILEGE:
                raise
            why = "the user may not run CLIENT SETNAME"
        else:
            why = "the user's session is not on the admin's server"
            for line in str(run(admin, "CLIENT", "LIST")).splitlines():
                fields = dict(field.partition("=")[::2] for field in line.split(" "))
                if fields.get("name") == name:
                    if fields.get("user") == username:
                        return True
                    why = f"that session is user {fields.get('user')!r}'s"
        logger.warning(f"the admin could not prove it acts on the user's server: {why}")
        return False


def _dryrun(username: str, name: str, arity: int) -> list[str]:
    """ACL DRYRUN username <command [subcommand]>, with placeholder arguments for its arity."""
    words = name.split("|")
    return ["ACL", "DRYRUN", username, *words, *["x"] * (abs(arity) - len(words))]


RedisRotator.check_installed()  # at import, so a broken package fails before any step
lambda_handler = RedisRotator.handler()
