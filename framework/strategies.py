"""Rotation strategies for username/password credentials, independent of any database.

`PasswordRotator` implements the three `Rotator` hooks by handing them to the strategy chosen by
ROTATION_STRATEGY, and asks its subclasses for the target-specific parts (log in, change a
password, clone a user). Strategies:

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
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from smrotate.errors import (
    ConfigurationError,
    IdentityMismatchError,
    LoginRefusedError,
    RotationStateError,
    SecretFormatError,
)
from smrotate.observability import logger
from smrotate.rotator import Rotator, StepContext
from smrotate.settings import env_choice, env_int
from smrotate.store import Secret

SessionT = TypeVar("SessionT")

DEFAULT_CLONE_SUFFIX = "_clone"
ALLOW_PRIVILEGED_ENV = "ROTATION_ALLOW_PRIVILEGED"
ADMIN_SECRET_ARN_ENV = "ADMIN_SECRET_ARN"  # noqa: S105 (a variable name)
DIGEST_LENGTH = 6  # hex digits of sha256(base) in a clone name cut short to fit the limit


@dataclass(frozen=True)
class AccountFacts:
    """What the admin sees of an account before it changes anything (read-only)."""

    exists: bool
    privileged: str | None = None  # why the account has admin-level rights, if it has them
    clone_of: str | None = None  # the base named by smrotate's mark, if the account has one


class PasswordRotator(Rotator, Generic[SessionT]):
    """A rotator for secrets holding `username` and `password`; subclasses talk to the target.

    Hooks for subclasses (each one's contract is in its docstring): `login`,
    `change_own_password`, and for the admin strategies `set_password` and `ensure_clone`.
    Optional: `check_login` (extra proof in testSecret), `same_account`,
    `complete_admin_secret`, `username_limit`.
    """

    # The strategies this rotator offers, declared by the hooks it implements (set in
    # __init_subclass__): single-user always; single-user-via-admin with `set_password`;
    # alternating-users with `set_password` and `ensure_clone`. A subclass may narrow it.
    strategies: ClassVar[tuple[str, ...]] = ("single-user",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        offered = ["single-user"]
        if cls.set_password is not PasswordRotator.set_password:
            offered.append("single-user-via-admin")
            if cls.ensure_clone is not PasswordRotator.ensure_clone:
                offered.append("alternating-users")
        narrowed = cls.__dict__.get("strategies")
        cls.strategies = tuple(n for n in offered if narrowed is None or n in narrowed)

    # ------------------------------------------------------------ target hooks

    @abstractmethod
    def login(self, secret: Secret) -> AbstractContextManager[SessionT]:
        """Open a session with `secret`'s credentials; close it on exit.

        Raise LoginRefusedError when the target rejects the credentials, and another TargetError
        for network, TLS or other failures (these are never retried with other credentials).
        Changes nothing.
        """

    @abstractmethod
    def change_own_password(self, session: SessionT, secret: Secret, password: str) -> None:
        """As the user logged in with `secret`, set that user's password to `password`.

        Idempotent: setting the same password again is harmless.
        """

    def set_password(self, admin: SessionT, username: str, password: str) -> None:
        """As an admin, set `username`'s password to `password`. Idempotent."""
        raise NotImplementedError(f"{type(self).__name__} does not support admin strategies")

    def ensure_clone(self, admin: SessionT, base: str, clone: str, password: str) -> bool:
        """As an admin, make `clone` a login user with `base`'s rights; True if it created it.

        Creates `clone` with `password` when it does not exist; otherwise leaves its password
        alone and re-syncs its attributes and privileges from `base`. Idempotent.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support alternating users")

    def account_facts(self, admin: SessionT, username: str) -> AccountFacts | None:
        """As an admin, whether `username` exists, has admin-level rights, and carries the
        mark of a clone smrotate made (and of which base). Read-only. None: the target cannot
        tell (then `ensure_clone` alone must refuse a clone it did not make)."""
        return None

    def require_same_target(
        self, own: SessionT, admin: SessionT, secret: Secret, admin_secret: Secret
    ) -> None:
        """Raise unless `admin` (opened with `admin_secret`) acts on the very target where
        `own` (opened with `secret`) logged in. Default: the two secrets name the same
        `host` and `port` (both absent counts as the same). Read-only."""
        if (secret.get("host"), secret.get("port")) != (
            admin_secret.get("host"),
            admin_secret.get("port"),
        ):
            raise RotationStateError(
                "the secret and the admin secret name different targets; the admin acts only "
                "where the secret's own credentials logged in"
            )

    def check_login(self, session: SessionT, secret: Secret) -> None:
        """testSecret's proof beyond logging in (run a query, read a table). Read-only."""

    def same_account(self, a: Secret, b: Secret) -> bool:
        """True when `a` and `b` name the same account (same user at the same target)."""
        return bool(a.get("username") == b.get("username"))

    def admin_secret(self, ctx: StepContext, secret: Secret) -> Secret:
        """The admin credentials named by `secret['masterarn']` (its AWSCURRENT), completed by
        `complete_admin_secret` and then checked like any secret."""
        arn = self.masterarn(ctx, secret)
        what = "the admin secret named by 'masterarn'"
        resolved = ctx.describe(arn).arn
        expected = self.env.get(ADMIN_SECRET_ARN_ENV, "").strip()
        if expected and expected != resolved and resolved != ctx.describe(expected).arn:
            raise SecretFormatError(
                f"the secret's 'masterarn' names {resolved}, but this function may use only "
                f"the admin secret {expected} ({ADMIN_SECRET_ARN_ENV}); fix 'masterarn' in the "
                "secret"
            )
        admin = self.complete_admin_secret(ctx, secret, ctx.read_current_of(resolved, what))
        self.check_secret(admin, f"{what} ({arn})")
        return admin

    def check_admin_may_change(
        self,
        ctx: StepContext,
        admin: SessionT,
        admin_secret: Secret,
        username: str,
        opted_in_as: str | None = None,
    ) -> AccountFacts | None:
        """Refuse (RotationStateError) to let the admin change `username` when it is the admin
        itself or has admin-level rights, unless ROTATION_ALLOW_PRIVILEGED names it (or names
        `opted_in_as`: a clone follows its base's opt-in, since it gets the base's rights)."""
        allowed = {
            name.strip() for name in self.env.get(ALLOW_PRIVILEGED_ENV, "").split(",") if name
        }
        if username in allowed or (opted_in_as is not None and opted_in_as in allowed):
            return self.account_facts(admin, username)
        if username == admin_secret.get("username"):
            raise RotationStateError(
                f"secret {ctx.description.name} asks the admin to change user {username!r}, "
                "the admin secret's own user; refusing (name it in "
                f"{ALLOW_PRIVILEGED_ENV} if this is really meant)"
            )
        facts = self.account_facts(admin, username)
        if facts is not None and facts.privileged:
            raise RotationStateError(
                f"user {username!r} has admin-level rights ({facts.privileged}); the admin "
                "secret never resets, clones or rotates such an account for another secret "
                f"(name it in {ALLOW_PRIVILEGED_ENV} if this is really meant)"
            )
        return facts

    def complete_admin_secret(self, ctx: StepContext, secret: Secret, admin: Secret) -> Secret:
        """Fill in what the admin secret may leave out (from `secret`, the user's, or elsewhere);
        default: nothing."""
        return admin

    def username_limit(self, secret: Secret) -> int:
        """The longest user name the target accepts (USERNAME_CHARACTER_LIMIT overrides)."""
        return 63

    # --------------------------------------------------------------- helpers

    def check_secret(self, value: Secret, what: str) -> None:
        """`username` and `password` must be non-empty strings."""
        for key in ("username", "password"):
            if not isinstance(value.get(key), str) or not value[key]:
                raise SecretFormatError(
                    f"{what} has no {key!r} string; it needs 'username' and 'password'"
                )

    def logs_in(self, secret: Secret) -> bool:
        """True when `secret` logs in; False when refused; other failures raise."""
        try:
            with self.login(secret):
                return True
        except LoginRefusedError:
            return False

    @property
    def strategy(self) -> Strategy:
        """The strategy named by ROTATION_STRATEGY (default single-user); ConfigurationError
        naming the missing hooks when this rotator does not offer it."""
        name = self.env.get("ROTATION_STRATEGY", "").strip() or "single-user"
        if name in STRATEGIES and name not in self.strategies:
            missing = ["set_password"] if "via-admin" in name else ["set_password", "ensure_clone"]
            missing = [
                hook
                for hook in missing
                if getattr(type(self), hook) is getattr(PasswordRotator, hook)
            ]
            raise ConfigurationError(
                f"ROTATION_STRATEGY is {name}, but {type(self).__name__} does not implement "
                f"{' and '.join(missing)}, so it offers only {', '.join(self.strategies)}"
            )
        name = env_choice(self.env, "ROTATION_STRATEGY", "single-user", self.strategies)
        return STRATEGIES[name]()

    def check_capabilities(self, ctx: StepContext) -> None:
        """createSecret's check, before anything is stored: the strategy is one this rotator
        offers, what it needs is installed (`check_installed`), and an admin strategy's secret
        names its admin secret in `masterarn`. Read-only; raises naming what is missing."""
        strategy = self.strategy
        self.check_installed()
        if strategy.needs_admin:
            self.masterarn(ctx, ctx.current())

    def masterarn(self, ctx: StepContext, secret: Secret) -> str:
        """`secret`'s `masterarn`; SecretFormatError, saying what to add, when it has none."""
        arn = secret.get("masterarn")
        if not isinstance(arn, str) or not arn.strip():
            raise SecretFormatError(
                f"strategy {self.strategy.name} needs 'masterarn' in the secret "
                f"{ctx.description.name}: the ARN of the admin secret that may set passwords; "
                "add it to AWSCURRENT, then rotate again"
            )
        return arn.strip()

    def check_installed(self) -> None:
        """Raise ConfigurationError, naming the pip extra, when what the steps that talk to
        the target import is missing. Default: nothing to check. Imports nothing."""

    def verify_pending(self, value: Secret) -> None:
        """Log in with `value` and run `check_login`: testSecret's proof, for operators too
        (cleanup). LoginRefusedError when refused. Read-only."""
        with self.login(value) as session:
            self.check_login(session, value)

    # ------------------------------------------------------- Rotator's hooks

    def build_pending(self, ctx: StepContext) -> Secret:
        """The strategy's pending value: same fields, maybe another user, a new password;
        `check_capabilities` first, so a rotation it cannot finish never stores AWSPENDING."""
        self.check_capabilities(ctx)
        return self.strategy.build_pending(self, ctx)

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        """The strategy's setSecret."""
        self.strategy.apply(self, ctx, pending)

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        """Log in with `pending` and run `check_login` (`verify_pending`)."""
        self.verify_pending(pending)

    @property
    def retires_discarded(self) -> bool:
        """True when `retire_pending` may have work to do under this strategy (so cleanup reads
        the discarded value only then)."""
        return self.strategy.retires

    def retire_pending(self, ctx: StepContext, pending: Secret) -> bool:
        """After a rotation was discarded (`cancel --cleanup`): leave no working credentials
        that only an unlabelled version holds. True when it changed the target. Idempotent:
        once retired, the pending credentials no longer log in and nothing more changes."""
        return self.strategy.retire(self, ctx, pending)


Target = PasswordRotator[Any]


class Strategy(ABC):
    """How a PasswordRotator makes new credentials valid."""

    name: ClassVar[str]
    needs_admin: ClassVar[bool] = True  # uses the admin secret named by `masterarn`
    retires: ClassVar[bool] = False  # `retire` may change the target after a discard

    def pending_username(self, rotator: Target, ctx: StepContext, current: Secret) -> str:
        """The user the pending version names; the same user by default."""
        return str(current["username"])

    def build_pending(self, rotator: Target, ctx: StepContext) -> Secret:
        """A copy of AWSCURRENT with the pending user and a new password."""
        current = ctx.current()
        username = self.pending_username(rotator, ctx, current)
        return {**current, "username": username, "password": ctx.new_password()}

    def check_pending(
        self, rotator: Target, ctx: StepContext, current: Secret, pending: Secret
    ) -> None:
        """Refuse a pending version that names an account this strategy would not rotate to."""
        expected = self.pending_username(rotator, ctx, current)
        same_target = rotator.same_account({**current, "username": expected}, pending)
        if pending.get("username") != expected or not same_target:
            raise RotationStateError(
                f"the AWSPENDING version of secret {ctx.description.name} names user "
                f"{pending.get('username')!r} or a target that strategy {self.name} would not "
                f"rotate to (expected user {expected!r} at the AWSCURRENT target); refusing to set "
                "it. Cancel this rotation and start a new one"
            )

    @abstractmethod
    def apply(self, rotator: Target, ctx: StepContext, pending: Secret) -> None:
        """setSecret for this strategy (see PasswordRotator.apply_pending's contract)."""

    def retire(self, rotator: Target, ctx: StepContext, pending: Secret) -> bool:
        """See PasswordRotator.retire_pending. Default: nothing to retire (a single user's
        discarded password is refused once AWSCURRENT's works, which cleanup checked)."""
        return False


def _own_session(
    rotator: Target, ctx: StepContext, current: Secret, pending: Secret, stack: ExitStack
) -> tuple[object, Secret] | None:
    """A session as the user, opened on `stack`, with the secret that opened it: AWSCURRENT,
    else AWSPREVIOUS of the same account. None when AWSPENDING already logs in.
    LoginRefusedError when nothing does."""
    try:
        return stack.enter_context(rotator.login(current)), current
    except IdentityMismatchError as exc:  # keep the reason: the final error would hide it
        logger.warning(f"AWSCURRENT does not log in as its own user: {exc}")
    except LoginRefusedError:
        logger.info("AWSCURRENT does not log in; checking AWSPENDING, then AWSPREVIOUS")
    if rotator.logs_in(pending):
        return None
    previous = ctx.previous()
    if (
        previous is not None
        and previous.get("password") != current.get("password")
        and rotator.same_account(previous, current)
    ):
        try:
            session = stack.enter_context(rotator.login(previous))
        except LoginRefusedError:
            pass
        else:
            logger.info("AWSPREVIOUS logs in: the target kept an older rotation's password")
            return session, previous
    raise LoginRefusedError(
        f"none of AWSCURRENT, AWSPENDING and AWSPREVIOUS of secret {ctx.description.name} logs in "
        f"as user {current['username']!r}. Set that user's password by hand to the AWSCURRENT "
        "value, or rotate with the single-user-via-admin strategy"
    )


class SingleUser(Strategy):
    """The user changes its own password."""

    name = "single-user"
    needs_admin = False

    def apply(self, rotator: Target, ctx: StepContext, pending: Secret) -> None:
        current = ctx.current()
        self.check_pending(rotator, ctx, current, pending)
        with ExitStack() as stack:
            opened = _own_session(rotator, ctx, current, pending, stack)
            if opened is None:
                logger.info("AWSPENDING already logs in; nothing to set")
                return
            session, own = opened
            ctx.confirm_pending()
            rotator.change_own_password(session, own, str(pending["password"]))
        logger.info("the user changed its own password")


class SingleUserViaAdmin(Strategy):
    """The admin secret sets the user's password, once the user's own credentials log in."""

    name = "single-user-via-admin"

    def apply(self, rotator: Target, ctx: StepContext, pending: Secret) -> None:
        current = ctx.current()
        self.check_pending(rotator, ctx, current, pending)
        username = str(pending["username"])
        with ExitStack() as stack:
            opened = _own_session(rotator, ctx, current, pending, stack)
            if opened is None:
                logger.info("AWSPENDING already logs in; nothing to set")
                return
            own, own_secret = opened
            admin = rotator.admin_secret(ctx, current)
            admin_session = stack.enter_context(rotator.login(admin))
            rotator.require_same_target(own, admin_session, own_secret, admin)
            rotator.check_admin_may_change(ctx, admin_session, admin, username)
            ctx.confirm_pending()
            rotator.set_password(admin_session, username, str(pending["password"]))
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

    def limit(self, rotator: Target, secret: Secret) -> int:
        """The user name length limit: USERNAME_CHARACTER_LIMIT, else the rotator's."""
        return env_int(
            rotator.env,
            "USERNAME_CHARACTER_LIMIT",
            rotator.username_limit(secret),
            low=2,
            high=1024,
        )

    def clone_of(self, rotator: Target, base: str, secret: Secret) -> str:
        """`base` + suffix; when that passes the length limit, the base cut short and followed
        by `_` and 6 hex digits of sha256(base), so two bases never share a clone."""
        suffix, limit = self.suffix(rotator), self.limit(rotator, secret)
        if len(suffix) + DIGEST_LENGTH + 2 > limit:
            raise ConfigurationError(
                f"ROTATION_CLONE_SUFFIX has {len(suffix)} characters; user names are limited "
                f"to {limit}, which leaves no room for the clone name"
            )
        if len(base) + len(suffix) <= limit:
            return base + suffix
        digest = hashlib.sha256(base.encode()).hexdigest()[:DIGEST_LENGTH]
        return base[: limit - len(suffix) - DIGEST_LENGTH - 1] + "_" + digest + suffix

    def pair(self, rotator: Target, ctx: StepContext, current: Secret) -> tuple[str, str]:
        """(base user, clone user) for the pair that AWSCURRENT belongs to.

        A name ending in the suffix is the clone. Its base is the name without the suffix,
        unless the base was cut short to fit the limit: then AWSPREVIOUS names the full base.
        """
        username = str(current["username"])
        suffix = self.suffix(rotator)
        if not username.endswith(suffix) or username == suffix:
            return username, self.clone_of(rotator, username, current)
        previous = ctx.previous()
        if previous is not None and rotator.same_account(
            {**previous, "username": username}, current
        ):
            candidate = str(previous["username"])
            if candidate != username and self.clone_of(rotator, candidate, current) == username:
                return candidate, username  # a base cut short (and digested) to fit the limit
        return username[: -len(suffix)], username

    def pending_username(self, rotator: Target, ctx: StepContext, current: Secret) -> str:
        base, clone = self.pair(rotator, ctx, current)
        return clone if current["username"] == base else base

    def apply(self, rotator: Target, ctx: StepContext, pending: Secret) -> None:
        current = ctx.current()
        self.check_pending(rotator, ctx, current, pending)
        base, clone = self.pair(rotator, ctx, current)
        with ExitStack() as stack:
            try:
                own = stack.enter_context(rotator.login(current))
            except LoginRefusedError:
                raise LoginRefusedError(
                    f"AWSCURRENT of secret {ctx.description.name} does not log in as "
                    f"{current['username']!r}; the admin secret is used only for a secret whose "
                    "current credentials work (confused-deputy guard). Fix AWSCURRENT, then retry"
                ) from None
            admin = rotator.admin_secret(ctx, current)
            admin_session = stack.enter_context(rotator.login(admin))
            rotator.require_same_target(own, admin_session, current, admin)
            rotator.check_admin_may_change(ctx, admin_session, admin, base)
            facts = rotator.check_admin_may_change(ctx, admin_session, admin, clone, base)
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
            created = rotator.ensure_clone(admin_session, base, clone, str(pending["password"]))
            if created:
                logger.info("the admin created the clone user")
            if already_set or (created and pending["username"] == clone):
                logger.info("AWSPENDING already logs in; password unchanged")
            else:
                rotator.set_password(
                    admin_session, str(pending["username"]), str(pending["password"])
                )
                logger.info("the admin set the inactive user's password")

    def retire(self, rotator: Target, ctx: StepContext, pending: Secret) -> bool:
        """The inactive user still logs in with the discarded password: the admin gives it a
        fresh password that no version holds (the next rotation sets a new one anyway)."""
        current = ctx.current()
        inactive = str(pending["username"])
        if inactive == current["username"] or not rotator.logs_in(pending):
            return False
        with ExitStack() as stack:
            own = stack.enter_context(rotator.login(current))
            admin = rotator.admin_secret(ctx, current)
            admin_session = stack.enter_context(rotator.login(admin))
            rotator.require_same_target(own, admin_session, current, admin)
            rotator.check_admin_may_change(ctx, admin_session, admin, inactive)
            rotator.set_password(admin_session, inactive, ctx.new_password())
        logger.info("the admin reset the inactive user's password to one that no version holds")
        return True


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (SingleUser, SingleUserViaAdmin, AlternatingUsers)
}
