"""The admin secret's guards (docs/threat-model.md): which admin, on which server, for whom.

The admin strategies use the admin secret only through `open_admin` and `check_may_change`:
- the admin secret is the one `masterarn` names and, where ADMIN_SECRET_ARN is set (the SAM
  templates set it), that very secret;
- it connects with its own settings only (the schema may complete it, e.g. from RDS);
- its session reaches the server where the user's own session logged in;
- it never changes itself or an account with admin-level rights, unless
  ROTATION_ALLOW_PRIVILEGED names that account.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from smrotate.errors import RotationStateError, SecretFormatError
from smrotate.password_rotator import AccountFacts, Target
from smrotate.rotator import StepContext

ALLOW_PRIVILEGED_ENV = "ROTATION_ALLOW_PRIVILEGED"
ADMIN_SECRET_ARN_ENV = "ADMIN_SECRET_ARN"  # noqa: S105 (a variable name)


def admin_account(rotator: Target, ctx: StepContext, user: Any) -> Any:
    """The admin account named by `user`'s `masterarn` (its AWSCURRENT), completed by the
    schema and parsed like any secret; SecretFormatError when ADMIN_SECRET_ARN pins another."""
    arn = rotator.masterarn(ctx, user)
    what = "the admin secret named by 'masterarn'"
    resolved = ctx.describe(arn).arn
    expected = rotator.env.get(ADMIN_SECRET_ARN_ENV, "").strip()
    if expected and expected != resolved and resolved != ctx.describe(expected).arn:
        raise SecretFormatError(
            f"the secret's 'masterarn' names {resolved}, but this function may use only "
            f"the admin secret {expected} ({ADMIN_SECRET_ARN_ENV}); fix 'masterarn' in the "
            "secret"
        )
    value = rotator.schema.complete_admin(
        ctx.read_current_of(resolved, what), resolved, ctx.describe
    )
    return rotator.parse_secret(value, f"{what} ({arn})")


def open_admin(
    rotator: Target, ctx: StepContext, stack: ExitStack, own: Any, user: Any
) -> tuple[Any, Any]:
    """(admin account, admin session opened on `stack`), once the admin's session is shown to
    reach the server where `own` (the session of `user`) logged in: both accounts name the
    same target (`Account.same_target`), or `prove_same_server` shows it. RotationStateError
    otherwise, before any change."""
    admin = admin_account(rotator, ctx, user)
    session = stack.enter_context(rotator.open(admin))
    if not user.same_target(admin) and not rotator.prove_same_server(own, session, user.username):
        raise RotationStateError(
            f"the secret and the admin secret name different targets ({user.describe()}; the "
            f"admin {admin.describe()}), and the admin's session could not prove they are the "
            "same server (the log's warning says why); refusing to let the admin change an "
            "account it cannot tie to the secret. Give both secrets the same host and port, "
            "with TLS"
        )
    return admin, session


def check_may_change(
    rotator: Target,
    ctx: StepContext,
    session: Any,
    admin: Any,
    username: str,
    *,
    opted_in_as: str | None = None,
) -> AccountFacts | None:
    """Refuse (RotationStateError) to let the admin change `username` when it is the admin
    itself or has admin-level rights, unless ROTATION_ALLOW_PRIVILEGED names it (or names
    `opted_in_as`: a clone follows its base's opt-in, since it gets the base's rights).
    The account's facts otherwise. Read-only."""
    names = rotator.env.get(ALLOW_PRIVILEGED_ENV, "").split(",")
    allowed = {name.strip() for name in names if name.strip()}
    if username in allowed or (opted_in_as is not None and opted_in_as in allowed):
        return rotator.account_facts(session, username)
    if username == admin.username:
        raise RotationStateError(
            f"secret {ctx.description.name} asks the admin to change user {username!r}, "
            "the admin secret's own user; refusing (name it in "
            f"{ALLOW_PRIVILEGED_ENV} if this is really meant)"
        )
    facts = rotator.account_facts(session, username)
    if facts is not None and facts.privileged:
        raise RotationStateError(
            f"user {username!r} has admin-level rights ({facts.privileged}); the admin "
            "secret never resets, clones or rotates such an account for another secret "
            f"(name it in {ALLOW_PRIVILEGED_ENV} if this is really meant)"
        )
    return facts
