"""`PasswordRotator`: the one class for username/password credentials, with a small hook surface.

Required hooks (each contract in its docstring):
- `login(account)`: a session as that account;
- `set_own_password(session, account, password)`: the logged-in user sets its own password.

Every password rotator offers single-user and alternating-pair (a pair of users created
beforehand, each setting its own password). Optional hooks whose presence declares the other
strategies (`strategies` is computed from them):
- `set_password(admin, username, password)`: single-user-via-admin;
- `sync_clone(admin, base, clone, password)`: with set_password, alternating-users;
- `add_password(session, account, password)`: dual-password (targets that keep two passwords).
`unusable_strategy(strategy, account)` lets a rotator refuse a strategy for a target it knows
cannot do it (MariaDB has no dual passwords) before createSecret stores anything.

Optional guards, read-only: `session_facts` (who the target says a session is: the engine checks
identity and TLS after every login), `account_facts` (privileged accounts and clone marks),
`prove_same_server` (the admin reaches the user's server), `check_login` (testSecret's proof
beyond logging in). What the secret holds is declared by `schema` (an `AccountSchema`): the
values become typed, frozen accounts, parsed once per step.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from smrotate.accounts import PLAIN, Account, AccountSchema, SessionFacts
from smrotate.drivers import require_driver
from smrotate.errors import (
    ConfigurationError,
    Failure,
    IdentityMismatchError,
    LoginRefusedError,
    SecretFormatError,
    TargetError,
)
from smrotate.events import RotationEvent, Step
from smrotate.rotator import Rotator, StepContext
from smrotate.settings import env_choice
from smrotate.store import CURRENT, PENDING, PREVIOUS, Secret, SecretDescription

if TYPE_CHECKING:
    from smrotate.strategies import Strategy

AccountT = TypeVar("AccountT", bound=Account)
SessionT = TypeVar("SessionT")

STRATEGY_ENV = "ROTATION_STRATEGY"
_INSTALLED: set[type] = set()  # classes whose driver check passed in this process
# The strategies and the hooks each needs beyond the two required ones.
NEEDS = {
    "single-user": (),
    "single-user-via-admin": ("set_password",),
    "alternating-users": ("set_password", "sync_clone"),
    "alternating-pair": (),
    "dual-password": ("add_password",),
}


# The hooks that change the target (the kit crashes and delays around each call).
WRITE_HOOKS = ("set_own_password", "set_password", "sync_clone", "add_password")


@dataclass(frozen=True)
class AccountFacts:
    """What the admin sees of an account before it changes anything (read-only)."""

    exists: bool
    privileged: str | None = None  # why the account has admin-level rights, if it has them
    clone_of: str | None = None  # the base named by smrotate's mark, if the account has one


class PasswordRotator(Rotator, Generic[AccountT, SessionT]):
    """Rotates secrets holding `username` and `password` with the strategy ROTATION_STRATEGY
    names (default single-user); subclasses implement the hooks (module docstring)."""

    schema: ClassVar[AccountSchema[Account]] = PLAIN
    # The driver module the steps that log in import, and the pip extra that installs it.
    driver_module: ClassVar[str] = ""
    driver_extra: ClassVar[str] = ""
    driver_native: ClassVar[tuple[str, ...]] = ()  # packages whose .so must match the machine
    # The strategies offered, declared by the hooks implemented (set in __init_subclass__);
    # a subclass may narrow them by setting it.
    strategies: ClassVar[tuple[str, ...]] = ("single-user",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        narrowed = cls.__dict__.get("strategies")
        cls.strategies = tuple(
            name
            for name in NEEDS
            if not cls.missing_hooks(name) and (narrowed is None or name in narrowed)
        )

    @classmethod
    def missing_hooks(cls, strategy: str) -> list[str]:
        """The optional hooks `strategy` needs that this class does not implement."""
        return [
            hook
            for hook in NEEDS.get(strategy, ())
            if getattr(cls, hook) is getattr(PasswordRotator, hook)
        ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats: Counter[str] = Counter()  # logins ("connections") and refusals ("refused")

    # ---------------------------------------------------------- required hooks

    @abstractmethod
    def login(self, account: AccountT) -> AbstractContextManager[SessionT]:
        """A session as `account`, closed on exit. LoginRefusedError when the target rejects
        the credentials, another TargetError (with its Failure) otherwise; never retried
        without TLS. Changes nothing."""

    @abstractmethod
    def set_own_password(self, session: SessionT, account: AccountT, password: str) -> None:
        """As the user logged in with `account`, set that user's password to `password`."""

    # ---------------------------------------------------------- optional hooks

    def set_password(self, admin: SessionT, username: str, password: str) -> None:
        """As the admin, set `username`'s password to `password`. Idempotent."""
        raise NotImplementedError

    def sync_clone(self, admin: SessionT, base: str, clone: str, password: str) -> bool:
        """As the admin, make `clone` a login user with `base`'s rights; True if it created it
        (with `password`). An existing clone keeps its password and is re-synced from `base`.
        Idempotent."""
        raise NotImplementedError

    def add_password(self, session: SessionT, account: AccountT, password: str) -> bool:
        """As the user logged in with `account`, make `password` its newest password and keep
        `account.password` working too; older passwords stop working (the target keeps two).
        False, changing nothing, when `account.password` is no longer the user's newest (the
        password was added before: the engine then checks that `password` logs in)."""
        raise NotImplementedError

    def unusable_strategy(self, strategy: str, account: AccountT) -> str | None:
        """Why `strategy` cannot work at `account`'s target as far as the secret tells (no
        login), or None. Asked at createSecret, before anything is stored."""
        return None

    def session_facts(self, session: SessionT) -> SessionFacts | None:
        """Who the target says `session` is (and whether it runs over TLS); None: it cannot
        tell. Read-only. The engine refuses a session that is not exactly the account."""
        return None

    def account_facts(self, admin: SessionT, username: str) -> AccountFacts | None:
        """As the admin: whether `username` exists, has admin-level rights, and carries the
        mark of a clone smrotate made (of which base). Read-only. None: the target cannot tell
        (then `sync_clone` alone must refuse a clone it did not make)."""
        return None

    def prove_same_server(self, own: SessionT, admin: SessionT, username: str) -> bool:
        """True only when `admin`'s server sees `own`, the session of `username`, by a
        challenge another server could not answer. Asked when the two secrets name different
        targets. Read-only apart from session state."""
        return False

    def check_login(self, session: SessionT, account: AccountT) -> None:
        """testSecret's proof beyond logging in (run a query, read a table). Read-only."""

    # ------------------------------------------------------------------ engine

    def parse_secret(self, value: Secret, what: str) -> AccountT:
        """The account in `value`, by `schema`; SecretFormatError naming the field."""
        return cast(AccountT, self.schema.parse(value, what, self.env))

    def account(self, ctx: StepContext, label: str) -> AccountT:
        """The step's account for AWSCURRENT or AWSPENDING (parsed once per step)."""
        return cast(AccountT, ctx.parsed(label))

    def previous_account(self, ctx: StepContext) -> AccountT | None:
        """AWSPREVIOUS's account, or None when there is none (or it is unusable)."""
        return cast("AccountT | None", ctx.parsed(PREVIOUS))

    @contextmanager
    def open(self, account: AccountT) -> Iterator[SessionT]:
        """`login`, then `session_facts` proves the session is exactly `account`'s user
        (IdentityMismatchError) and runs over TLS when the account asks for it (TargetError,
        TLS). Counts logins and refusals."""
        self.stats["connections"] += 1
        try:
            with self.login(account) as session:
                self._check_session(session, account)
                yield session
        except LoginRefusedError:
            self.stats["refused"] += 1
            raise

    def _check_session(self, session: SessionT, account: AccountT) -> None:
        facts = self.session_facts(session)
        if facts is None:
            return
        if account.tls_required and not facts.tls:
            raise TargetError(
                f"the session of {account.describe()} does not use TLS although TLS was asked "
                "for; refusing it (check the server's TLS settings)",
                Failure.TLS,
            )
        if facts.user != account.username:
            matched = facts.user if facts.host is None else f"{facts.user}@{facts.host}"
            raise IdentityMismatchError(
                f"logging in as {account.describe()} matched account {matched!r}, not that "
                "user (an anonymous or other account took the login); drop that account or "
                "give the user a more specific host row"
            )

    def logs_in(self, account: AccountT) -> bool:
        """True when `account` logs in; False when refused; other failures raise."""
        try:
            with self.open(account):
                return True
        except LoginRefusedError:
            return False

    def verify(self, account: AccountT) -> None:
        """testSecret's proof, for operators too: log in, then `check_login`.
        LoginRefusedError when refused. Read-only."""
        with self.open(account) as session:
            self.check_login(session, account)

    @property
    def strategy(self) -> Strategy:
        """The strategy named by ROTATION_STRATEGY (default single-user); ConfigurationError
        naming the missing hooks when this rotator does not offer it."""
        from smrotate.strategies import STRATEGIES

        name = self.env.get(STRATEGY_ENV, "").strip() or "single-user"
        if name in STRATEGIES and name not in self.strategies:
            missing = self.missing_hooks(name)
            raise ConfigurationError(
                f"{STRATEGY_ENV} is {name}, but {type(self).__name__} does not implement "
                f"{' and '.join(missing) or 'it'}, so it offers only {', '.join(self.strategies)}"
            )
        return STRATEGIES[env_choice(self.env, STRATEGY_ENV, "single-user", self.strategies)]()

    @classmethod
    def check_installed(cls) -> None:
        """ConfigurationError naming the pip extra when `driver_module` is not installed, or
        the architecture when a `driver_native` package is built for another machine; imports
        nothing (`smrotate.drivers`). Shipped rotators call it when their module is imported;
        createSecret calls it before it stores anything. A pass is remembered for the process
        (the files cannot change under a running function); a failure is checked again."""
        if cls.driver_module and cls not in _INSTALLED:
            require_driver(cls.__name__, cls.driver_module, cls.driver_extra, cls.driver_native)
            _INSTALLED.add(cls)

    def masterarn(self, ctx: StepContext, account: AccountT) -> str:
        """`account`'s `masterarn`; SecretFormatError, saying what to add, when it has none."""
        if account.masterarn is None:
            raise SecretFormatError(
                f"strategy {self.strategy.name} needs 'masterarn' in the secret "
                f"{ctx.description.name}: the ARN of the admin secret that may set passwords; "
                "add it to AWSCURRENT, then rotate again"
            )
        return account.masterarn

    # --------------------------------------------------------- Rotator's hooks

    def build_pending(self, ctx: StepContext) -> Secret:
        """The strategy's pending value. First, before anything is stored: the strategy is
        offered, the driver installed, and an admin strategy's secret names `masterarn`."""
        strategy = self.strategy
        self.check_installed()
        current = self.account(ctx, CURRENT)
        if (why := self.unusable_strategy(strategy.name, current)) is not None:
            raise ConfigurationError(
                f"{STRATEGY_ENV} is {strategy.name}, which cannot work for secret "
                f"{ctx.description.name}: {why}; nothing was stored"
            )
        if strategy.needs_admin:
            self.masterarn(ctx, current)
        return strategy.build_pending(self, ctx, current)

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        """The strategy's setSecret."""
        self.strategy.apply(self, ctx, self.account(ctx, PENDING))

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        """`verify` the pending account."""
        self.verify(self.account(ctx, PENDING))

    # ------------------------------------------------------------- operators

    @property
    def retires_discarded(self) -> bool:
        """True when `retire_discarded` may have work to do under this strategy."""
        return self.strategy.retires

    def retire_discarded(self, description: SecretDescription, version: str) -> bool:
        """After a rotation was discarded (`cancel --cleanup`): leave no working credentials
        that only the unlabelled `version` holds. True when it changed the target.
        Idempotent: once retired, those credentials no longer log in."""
        ctx = self.context(RotationEvent(Step.SET, description.arn, version), description)
        return self.strategy.retire(self, ctx, self.account(ctx, PENDING))


# Any password rotator, for the code that drives one without knowing its account and session
# types (the strategies, the admin guards, cleanup).
Target = PasswordRotator[Any, Any]
