"""What a developer tells the kit about a rotator: how to build it, make secrets, check logins."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smrotate.rotator import Rotator
from smrotate.store import Secret

if TYPE_CHECKING:
    from smrotate.testing.kit.world import World


# The strategies under which AWSCURRENT keeps logging in during a rotation, and AWSPREVIOUS
# until the next one.
ZERO_DOWNTIME = ("alternating-users", "alternating-pair", "dual-password")


@dataclass(frozen=True)
class Subject:
    """A rotator under test.

    - `rotator(env)` builds a fresh rotator configured by `env` (the kit adds
      ROTATION_STRATEGY from `strategy`); called once per simulated Lambda process.
    - `make_secret(world)` creates fresh credentials at the target and returns the secret's
      value (a JSON object). Each call must give an independent account. Admin secrets go into
      Secrets Manager through `world.put_secret(name, value)`.
    - `logs_in(secret)` is True when the credentials in `secret` log in at the target and False
      when they are refused. It must not change anything.
    - `second_user(world, secret)`, for alternating-pair: creates the pair's other user at the
      target and returns its secret value; it is stored before `secret`, so it holds AWSPREVIOUS.
    """

    name: str
    rotator: Callable[[Mapping[str, str]], Rotator]
    make_secret: Callable[[World], Secret]
    logs_in: Callable[[Secret], bool]
    strategy: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    second_user: Callable[[World, Secret], Secret] | None = None
    # How many rotations in a row get crash points injected (the second rotation of
    # alternating users goes back to the base user, a different path).
    crash_rotations: int = 2
    # Whether the credentials of the previous rotation keep logging in until the next one;
    # None: True for alternating users, False otherwise (the old password is refused).
    previous_stays_valid: bool | None = None
    # Whether racing rotations run in separate (forked) processes: the target must then be one
    # that every process reaches (a server). None: True for a SQL rotator (its schema a
    # Database), else threads of the test process (an in-memory target exists only in the
    # process that made it).
    race_in_processes: bool | None = None
    # The driver methods that send one statement to the target, as (class, method name), e.g.
    # ((psycopg.Cursor, "execute"),): the kit crashes before or after each. Empty: it crashes
    # around each call of the rotator's write hooks.
    write_points: tuple[tuple[Any, str], ...] = ()

    def races_in_processes(self, rotator: Rotator) -> bool:
        """`race_in_processes`, or its default for `rotator`."""
        if self.race_in_processes is not None:
            return self.race_in_processes
        from smrotate.database import Database

        return isinstance(getattr(rotator, "schema", None), Database)

    @property
    def keeps_current_working(self) -> bool:
        """True when AWSCURRENT must log in at every moment (the zero-downtime strategies):
        single-user strategies change the user's own password in setSecret, so until
        finishSecret moves AWSCURRENT only AWSPENDING logs in."""
        return self.strategy in ZERO_DOWNTIME

    @property
    def keeps_previous_working(self) -> bool:
        """True when AWSPREVIOUS must keep logging in until the next rotation."""
        if self.previous_stays_valid is not None:
            return self.previous_stays_valid
        return self.strategy in ZERO_DOWNTIME

    def full_env(self) -> dict[str, str]:
        """`env` plus ROTATION_STRATEGY when a strategy is set."""
        env = dict(self.env)
        if self.strategy:
            env["ROTATION_STRATEGY"] = self.strategy
        return env

    def build(self) -> Rotator:
        """A fresh rotator, as a new Lambda process would make it."""
        return self.rotator(self.full_env())
