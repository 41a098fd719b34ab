"""Reading the rotation function's environment variables.

The variable names and the accepted boolean spellings are those of the AWS rotation templates
(`true`, `1`, `y`, `yes`, any case, are true). smrotate is stricter in one way: a value that is
neither true nor false (`ture`, `enabled`) is a ConfigurationError instead of a silent false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from smrotate.errors import ConfigurationError

N = TypeVar("N", int, float)

TRUE_VALUES = frozenset({"true", "1", "y", "yes"})
FALSE_VALUES = frozenset({"false", "0", "n", "no", ""})


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """The boolean in `env[name]`, or `default` when the variable is not set."""
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ConfigurationError(
        f"environment variable {name} must be true or false (true, 1, y, yes / false, 0, n, no)"
    )


def _env_number(
    env: Mapping[str, str],
    name: str,
    default: N,
    parse: Callable[[str], N],
    kind: str,
    *,
    low: N,
    high: N,
) -> N:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw.strip())
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be {kind}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"environment variable {name} must be between {low} and {high}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """The integer in `env[name]` (or `default`), which must lie in [low, high]."""
    return _env_number(env, name, default, int, "a whole number", low=low, high=high)


def env_float(
    env: Mapping[str, str], name: str, default: float, *, low: float, high: float
) -> float:
    """The number in `env[name]` (or `default`), which must lie in [low, high]."""
    return _env_number(env, name, default, float, "a number", low=low, high=high)


def env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """The value of `env[name]` (or `default`), which must be one of `choices`."""
    value = env.get(name, "").strip() or default
    if value not in choices:
        raise ConfigurationError(f"environment variable {name} must be one of {', '.join(choices)}")
    return value
