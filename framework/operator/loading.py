"""Rotators by name, for `run` and `cancel --cleanup --rotator`.

SHIPPED is the one table of the shipped rotators' names: each line names the rotator's class
and the pip extra that installs its driver, and everything that lists the names (the error
below, `ROTATOR_CHOICES` for help texts and hints) is made from it. Anything else is
`MODULE:CLASS`, imported with importlib (the current directory is searched after the installed
packages). The framework never imports `rotators` directly: this is the one place that names
them, as strings. Importing this module is cheap (no rotator, no driver, no Powertools), so
help texts may use the table.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smrotate.errors import ConfigurationError
from smrotate.operator.exit_codes import CliError, ExitCode

if TYPE_CHECKING:
    from smrotate.operator.cleanup import CleanupChecks
    from smrotate.rotator import Rotator
    from smrotate.store import SecretStore

# --rotator NAME: (MODULE:CLASS, the pip extra with its driver). One line per shipped rotator.
SHIPPED: dict[str, tuple[str, str | None]] = {
    "postgresql": ("smrotate.rotators.postgresql:PostgreSQLRotator", "postgres"),
    "mysql": ("smrotate.rotators.mysql:MySQLRotator", "mysql"),
    "redis": ("smrotate.rotators.redis:RedisRotator", "redis"),
    "elasticache": ("smrotate.rotators.elasticache:ElastiCacheUserRotator", "redis"),
    "iam-keys": ("smrotate.rotators.iam_keys:IamAccessKeyRotator", None),  # boto3 only
}
# What --rotator takes, in words: "postgresql, mysql, redis, elasticache, iam-keys or
# MODULE:CLASS".
ROTATOR_CHOICES = ", ".join(SHIPPED) + " or MODULE:CLASS"


def rotator_class(name: str) -> type[Rotator]:
    """The Rotator subclass that `name` names; CliError (exit 2) saying what is wrong."""
    from smrotate.rotator import Rotator

    spec, extra = SHIPPED.get(name, (name, None))
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise CliError(
            f"--rotator {name!r} is not {ROTATOR_CHOICES} "
            "(e.g. --rotator mypackage.rotation:TokenRotator)",
            ExitCode.USAGE,
        )
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'smrotate[{extra}]'" if extra else ""
        raise CliError(
            f"cannot import rotator module {module_name!r}: {exc}{hint}", ExitCode.USAGE
        ) from None
    except ConfigurationError as exc:  # a shipped rotator checks its driver at import
        raise CliError(f"--rotator {name}: {exc}", ExitCode.USAGE) from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Rotator):
        raise CliError(
            f"{module_name}:{class_name} is not a Rotator subclass (smrotate.rotator.Rotator)",
            ExitCode.USAGE,
        )
    return cls


def build_rotator(
    name: str, store: SecretStore, env: Mapping[str, str], strategy: str | None = None
) -> Rotator:
    """An instance of the rotator `name` on `store`, configured by `env` (+ ROTATION_STRATEGY)."""
    cls = rotator_class(name)
    settings = dict(env)
    if strategy is not None:
        choices = getattr(cls, "strategies", None)
        if choices is not None and strategy not in choices:
            raise CliError(
                f"--strategy {strategy!r} is not one of {', '.join(choices)}", ExitCode.USAGE
            )
        settings["ROTATION_STRATEGY"] = strategy
    kwargs: dict[str, Any] = {"store": store, "env": settings}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise CliError(
            f"rotator {cls.__module__}:{cls.__name__} cannot be built with store= and env= "
            f"only ({exc}); give it defaults for its other arguments",
            ExitCode.USAGE,
        ) from None


def login_rotator(name: str, store: SecretStore, env: Mapping[str, str]) -> CleanupChecks:
    """A rotator that can check logins (cleanup.CleanupChecks: every PasswordRotator, and the
    IAM-key rotator), for cleanup's checks."""
    from smrotate.operator.cleanup import CleanupChecks

    rotator = build_rotator(name, store, env)
    if not isinstance(rotator, CleanupChecks):
        raise CliError(
            f"--rotator {name!r} cannot check logins (it has no logs_in, verify and "
            "retire_discarded: see smrotate.operator.cleanup.CleanupChecks), so cleanup cannot "
            "check which credentials the target accepts",
            ExitCode.USAGE,
        )
    return rotator
