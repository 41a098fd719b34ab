"""Rotation strategies for username/password credentials, independent of any target.

A `PasswordRotator` hands its three steps to the strategy ROTATION_STRATEGY names; the strategy
uses the rotator's hooks and the admin guards (`smrotate.admin`). Strategies:

- `single-user`: the user changes its own password. setSecret logs in with AWSCURRENT first (no
  failed login on the normal path); if that is refused it checks AWSPENDING (already set), then
  AWSPREVIOUS of the same account (AWSCURRENT moved back by hand while the target kept the
  newer password).
- `single-user-via-admin`: the admin secret named by `masterarn` sets the user's password. The
  user's own credentials (AWSCURRENT, else AWSPREVIOUS) must log in first, so the admin secret
  never resets an account that the rotated secret cannot prove it owns.
- `alternating-users`: each rotation switches between the user and its clone (`app`,
  `app_clone`), so the previous credentials keep working until the next rotation. The admin
  creates the clone on first use and sets the inactive user's password; AWSCURRENT must log in
  before the admin secret is used (confused-deputy guard).
- `alternating-pair`: two users created beforehand, no admin. AWSPREVIOUS holds the other
  user's credentials; each rotation logs in as that user and sets its own password, so the
  previous credentials keep working until the next rotation.
- `dual-password`: one user whose target keeps two passwords (`add_password`): setSecret adds
  the new one and keeps AWSCURRENT's, which the next rotation's setSecret pushes out.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from contextlib import ExitStack
from typing import Any, ClassVar

from smrotate.accounts import Account
from smrotate.admin import check_may_change, open_admin
from smrotate.errors import (
    ConfigurationError,
    IdentityMismatchError,
    LoginRefusedError,
    RotationStateError,
    SecretFormatError,
)
from smrotate.observability import logger
from smrotate.password_rotator import Target
from smrotate.rotator import StepContext
from smrotate.store import CURRENT, Secret

DEFAULT_CLONE_SUFFIX = "_clone"
DIGEST_LENGTH = 6  # hex digits of sha256(base) in a clone name cut short to fit the limit


class Strategy(ABC):
    """How a PasswordRotator makes new credentials valid."""

    name: ClassVar[str]
    needs_admin: ClassVar[bool] = True  # uses the admin secret named by `masterarn`
    retires: ClassVar[bool] = False  # `retire` may change the target after a discard

    def pending_username(self, rotator: Target, ctx: StepContext, current: Account) -> str:
        """The user the pending version names; the same user by default."""
        return current.username

    def build_pending(self, rotator: Target, ctx: StepContext, current: Account) -> Secret:
        """A copy of AWSCURRENT with the pending user and a new password."""
        username = self.pending_username(rotator, ctx, current)
        return current.with_credentials(username, ctx.new_password())

    def check_pending(
        self, rotator: Target, ctx: StepContext, current: Account, pending: Account
    ) -> None:
        """Refuse a pending version that names an account this strategy would not rotate to."""
        expected = self.pending_username(rotator, ctx, current)
        if pending.username != expected or pending.target != current.target:
            raise RotationStateError(
                f"the AWSPENDING version of secret {ctx.description.name} names user "
                f"{pending.username!r} or a target that strategy {self.name} would not "
                f"rotate to (expected user {expected!r} at the AWSCURRENT target); refusing to set "
                "it. Cancel this rotation and start a new one"
            )

    @abstractmethod
    def apply(self, rotator: Target, ctx: StepContext, pending: Account) -> None:
        """setSecret: make `pending` valid at the target, keeping AWSCURRENT working if it can.
        Idempotent: when `pending` already works, change nothing; safe to re-run after a crash
        at any point inside it."""

    def retire(self, rotator: Target, ctx: StepContext, pending: Account) -> bool:
        """See PasswordRotator.retire_discarded. Default: nothing to retire (a single user's
        discarded password is refused once AWSCURRENT's works, which cleanup checked)."""
        return False


def _own_session(
    rotator: Target, ctx: StepContext, current: Account, pending: Account, stack: ExitStack
) -> tuple[Any, Account] | None:
    """A session as the user, opened on `stack`, with the account that opened it: AWSCURRENT,
    else AWSPREVIOUS of the same account. None when AWSPENDING already logs in.
    LoginRefusedError when nothing does."""
    try:
        return stack.enter_context(rotator.open(current)), current
    except IdentityMismatchError as exc:  # keep the reason: the final error would hide it
        logger.warning(f"AWSCURRENT does not log in as its own user: {exc}")
    except LoginRefusedError:
        logger.info("AWSCURRENT does not log in; checking AWSPENDING, then AWSPREVIOUS")
    if rotator.logs_in(pending):
        return None
    previous = rotator.previous_account(ctx)
    if (
        previous is not None
        and previous.password != current.password
        and previous.same_account(current)
    ):
        try:
            session = stack.enter_context(rotator.open(previous))
        except LoginRefusedError:
            pass
        else:
            logger.info("AWSPREVIOUS logs in: the target kept an older rotation's password")
            return session, previous
    raise LoginRefusedError(
        f"none of AWSCURRENT, AWSPENDING and AWSPREVIOUS of secret {ctx.description.name} logs in "
        f"as user {current.username!r}. Set that user's password by hand to the AWSCURRENT "
        "value, or rotate with the single-user-via-admin strategy"
    )


class SingleUser(Strategy):
    """The user changes its own password."""

    name = "single-user"
    needs_admin = False

    def apply(self, rotator: Target, ctx: StepContext, pending: Account) -> None:
        current = rotator.account(ctx, CURRENT)
        self.check_pending(rotator, ctx, current, pending)
        with ExitStack() as stack:
            opened = _own_session(rotator, ctx, current, pending, stack)
            if opened is None:
                logger.info("AWSPENDING already logs in; nothing to set")
                return
            self.change(rotator, ctx, stack, pending, *opened)

    def change(
        self, rotator: Target, ctx: StepContext, stack: ExitStack, pending: Account, *own: Any
    ) -> None:
        """Give the user `pending`'s password, `own` being (its session, its account)."""
        session, account = own
        ctx.confirm_pending()
        rotator.set_own_password(session, account, pending.password)
        logger.info("the user changed its own password")


class SingleUserViaAdmin(SingleUser):
    """The admin secret sets the user's password, once the user's own credentials log in."""

    name = "single-user-via-admin"
    needs_admin = True

    def change(
        self, rotator: Target, ctx: StepContext, stack: ExitStack, pending: Account, *own: Any
    ) -> None:
        admin, session = open_admin(rotator, ctx, stack, *own)
        check_may_change(rotator, ctx, session, admin, pending.username)
        ctx.confirm_pending()
        rotator.set_password(session, pending.username, pending.password)
        logger.info("the admin set the user's password")


class AlternatingUsers(Strategy):
    """Switch between the user and its clone; the admin keeps the clone in step."""

    name = "alternating-users"
    retires = True

    def suffix(self, rotator: Target) -> str:
        """ROTATION_CLONE_SUFFIX, default `_clone`."""
        suffix = rotator.env.get("ROTATION_CLONE_SUFFIX", DEFAULT_CLONE_SUFFIX)
        if not suffix:
            raise ConfigurationError("ROTATION_CLONE_SUFFIX must not be empty")
        return suffix

    def clone_of(self, rotator: Target, base: str, account: Account) -> str:
        """`base` + suffix; when that passes the account's user-name limit, the base cut short
        and followed by `_` and 6 hex digits of sha256(base), so two bases never share a clone."""
        suffix, limit = self.suffix(rotator), account.username_limit
        if len(suffix) + DIGEST_LENGTH + 2 > limit:
            raise ConfigurationError(
                f"ROTATION_CLONE_SUFFIX has {len(suffix)} characters; user names are limited "
                f"to {limit}, which leaves no room for the clone name"
            )
        if len(base) + len(suffix) <= limit:
            return base + suffix
        digest = hashlib.sha256(base.encode()).hexdigest()[:DIGEST_LENGTH]
        return base[: limit - len(suffix) - DIGEST_LENGTH - 1] + "_" + digest + suffix

    def pair(self, rotator: Target, ctx: StepContext, current: Account) -> tuple[str, str]:
        """(base user, clone user) for the pair that AWSCURRENT belongs to.

        A name ending in the suffix is the clone. Its base is the name without the suffix,
        unless the base was cut short to fit the limit: then AWSPREVIOUS names the full base.
        """
        username, suffix = current.username, self.suffix(rotator)
        if not username.endswith(suffix) or username == suffix:
            return username, self.clone_of(rotator, username, current)
        previous = rotator.previous_account(ctx)
        if previous is not None and previous.target == current.target:
            candidate = previous.username
            if candidate != username and self.clone_of(rotator, candidate, current) == username:
                return candidate, username  # a base cut short (and digested) to fit the limit
        return username[: -len(suffix)], username

    def pending_username(self, rotator: Target, ctx: StepContext, current: Account) -> str:
        base, clone = self.pair(rotator, ctx, current)
        return clone if current.username == base else base

    def apply(self, rotator: Target, ctx: StepContext, pending: Account) -> None:
        current = rotator.account(ctx, CURRENT)
        self.check_pending(rotator, ctx, current, pending)
        base, clone = self.pair(rotator, ctx, current)
        with ExitStack() as stack:
            try:
                own = stack.enter_context(rotator.open(current))
            except LoginRefusedError:
                raise LoginRefusedError(
                    f"AWSCURRENT of secret {ctx.description.name} does not log in as "
                    f"{current.username!r}; the admin secret is used only for a secret whose "
                    "current credentials work (confused-deputy guard). Fix AWSCURRENT, then retry"
                ) from None
            admin, session = open_admin(rotator, ctx, stack, own, current)
            check_may_change(rotator, ctx, session, admin, base)
            facts = check_may_change(rotator, ctx, session, admin, clone, opted_in_as=base)
            if facts is not None and facts.exists and facts.clone_of != base:
                raise RotationStateError(
                    f"user {clone!r} exists but smrotate did not create it as the clone of "
                    f"{base!r} (its mark is missing or names another user); refusing to adopt "
                    "it. If it is a clone smrotate made before it marked its clones, mark it "
                    "(docs/strategies.md#clone-names says how for each engine); otherwise it "
                    "is not smrotate's: rename the base user or remove that account"
                )
            already_set = rotator.logs_in(pending)
            ctx.confirm_pending()
            created = rotator.sync_clone(session, base, clone, pending.password)
            if created:
                logger.info("the admin created the clone user")
            if already_set or (created and pending.username == clone):
                logger.info("AWSPENDING already logs in; password unchanged")
            else:
                rotator.set_password(session, pending.username, pending.password)
                logger.info("the admin set the inactive user's password")

    def retire(self, rotator: Target, ctx: StepContext, pending: Account) -> bool:
        """The inactive user still logs in with the discarded password: the admin gives it a
        fresh password that no version holds (the next rotation sets a new one anyway)."""
        current = rotator.account(ctx, CURRENT)
        if pending.username == current.username or not rotator.logs_in(pending):
            return False
        with ExitStack() as stack:
            own = stack.enter_context(rotator.open(current))
            admin, session = open_admin(rotator, ctx, stack, own, current)
            check_may_change(rotator, ctx, session, admin, pending.username)
            rotator.set_password(session, pending.username, ctx.new_password())
        logger.info("the admin reset the inactive user's password to one that no version holds")
        return True


class AlternatingPair(Strategy):
    """Two users created beforehand take turns; each sets its own password, no admin."""

    name = "alternating-pair"
    needs_admin = False
    retires = True

    def other(self, rotator: Target, ctx: StepContext, current: Account) -> Account:
        """The pair's inactive user: AWSPREVIOUS, which must name another user at the same
        target; SecretFormatError saying how to store it otherwise."""
        previous: Account | None = rotator.previous_account(ctx)
        if (
            previous is None
            or previous.username == current.username
            or previous.target != current.target
        ):
            found = "no AWSPREVIOUS"
            if previous is not None:
                found = f"AWSPREVIOUS naming {previous.describe()}"
            raise SecretFormatError(
                f"strategy {self.name} takes turns between two users created beforehand, and "
                f"secret {ctx.description.name} has {found}: AWSPREVIOUS must hold the second "
                f"user's credentials at the same host and port as {current.describe()}. Store "
                "the second user's value with put-secret-value, then the first user's value "
                "again (the second moves to AWSPREVIOUS), then rotate (docs/strategies.md"
                "#alternating-pair)"
            )
        return previous

    def pending_username(self, rotator: Target, ctx: StepContext, current: Account) -> str:
        return self.other(rotator, ctx, current).username

    def apply(self, rotator: Target, ctx: StepContext, pending: Account) -> None:
        current = rotator.account(ctx, CURRENT)
        self.check_pending(rotator, ctx, current, pending)
        other = self.other(rotator, ctx, current)
        with ExitStack() as stack:
            try:
                session = stack.enter_context(rotator.open(other))
            except LoginRefusedError:
                if rotator.logs_in(pending):
                    logger.info("AWSPENDING already logs in; nothing to set")
                    return
                raise LoginRefusedError(
                    f"neither AWSPREVIOUS nor AWSPENDING of secret {ctx.description.name} logs "
                    f"in as {other.username!r}, the pair's inactive user; set its password by "
                    "hand to the AWSPREVIOUS value, then retry (AWSCURRENT is unchanged)"
                ) from None
            ctx.confirm_pending()
            rotator.set_own_password(session, other, pending.password)
        logger.info("the inactive user of the pair changed its own password")

    def retire(self, rotator: Target, ctx: StepContext, pending: Account) -> bool:
        """The inactive user holds the discarded password: it sets its own password back to
        AWSPREVIOUS's (a fresh one if AWSPREVIOUS names another user), so the next rotation
        finds the pair as it was."""
        current = rotator.account(ctx, CURRENT)
        if pending.username == current.username or not rotator.logs_in(pending):
            return False
        previous = rotator.previous_account(ctx)
        restore = ctx.new_password()
        if previous is not None and previous.same_account(pending):
            restore = previous.password
        with rotator.open(pending) as session:
            rotator.set_own_password(session, pending, restore)
        logger.info("the inactive user of the pair set its password back to AWSPREVIOUS's")
        return True


class DualPassword(Strategy):
    """One user whose target keeps two passwords: the new one is added, AWSCURRENT's kept."""

    name = "dual-password"
    needs_admin = False
    retires = True

    def apply(self, rotator: Target, ctx: StepContext, pending: Account) -> None:
        current = rotator.account(ctx, CURRENT)
        self.check_pending(rotator, ctx, current, pending)
        with ExitStack() as stack:
            opened = _own_session(rotator, ctx, current, pending, stack)
            if opened is None:
                logger.info("AWSPENDING already logs in; nothing to set")
                return
            session, account = opened
            ctx.confirm_pending()
            if rotator.add_password(session, account, pending.password):
                logger.info("the user added the new password and kept the current one")
                return
        # The user's newest password is no longer the one it logged in with: a crash after
        # the change, or a change outside this rotation.
        if not rotator.logs_in(pending):
            raise LoginRefusedError(
                f"the password of {current.describe()} changed outside this rotation (the one "
                "it logged in with is no longer its newest) and AWSPENDING does not log in; "
                "nothing was changed. Set the password by hand to the AWSCURRENT value, retry"
            )
        logger.info("AWSPENDING already logs in (the password was added before); nothing to set")

    def retire(self, rotator: Target, ctx: StepContext, pending: Account) -> bool:
        """The discarded password is the user's newest: the user sets its password back to
        AWSCURRENT's, which pushes the discarded one out."""
        current = rotator.account(ctx, CURRENT)
        if pending.password == current.password or not rotator.logs_in(pending):
            return False
        with rotator.open(pending) as session:
            rotator.set_own_password(session, pending, current.password)
        logger.info("the user set its password back to AWSCURRENT's, dropping the discarded one")
        return True


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s
    for s in (SingleUser, SingleUserViaAdmin, AlternatingUsers, AlternatingPair, DualPassword)
}
