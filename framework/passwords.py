"""The password policy, read from the AWS-compatible variables, and password generation.

Defaults are those of the AWS rotation templates: 32 characters; letters, digits and
punctuation; each included type required; the engine's default excluded characters. Passwords
are made with `secrets` on the machine (no API call). With `PASSWORD_SOURCE=secretsmanager`
they come from Secrets Manager's GetRandomPassword instead, with the same policy.

Unlike the templates, smrotate refuses a policy that makes weak passwords: PASSWORD_LENGTH
below 8, or fewer than 40 bits of randomness (length x log2 of the number of allowed
characters: 8 letters and digits give 47.6 bits, 8 digits 26.6). Very short values would also
escape log redaction, which ignores strings of fewer than 4 characters.
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from smrotate.errors import ConfigurationError
from smrotate.settings import env_bool, env_choice, env_int

PUNCTUATION = string.punctuation  # the 32 characters GetRandomPassword uses
DEFAULT_EXCLUDED = "/@\"'\\"  # the AWS templates' default for database passwords
MAX_LENGTH = 4096  # GetRandomPassword's limit
MIN_LENGTH = 8
MIN_BITS = 40  # length x log2(number of allowed characters); MIN_LENGTH >= the 4 types


@dataclass(frozen=True)
class PasswordPolicy:
    """What a generated password may contain; `check()` raises on an impossible policy."""

    length: int = 32
    exclude_characters: str = DEFAULT_EXCLUDED
    exclude_numbers: bool = False
    exclude_punctuation: bool = False
    exclude_uppercase: bool = False
    exclude_lowercase: bool = False
    require_each_included_type: bool = True

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], default_excluded: str = DEFAULT_EXCLUDED
    ) -> PasswordPolicy:
        """The policy from PASSWORD_LENGTH, EXCLUDE_* and REQUIRE_EACH_INCLUDED_TYPE."""
        policy = cls(
            length=env_int(env, "PASSWORD_LENGTH", 32, low=MIN_LENGTH, high=MAX_LENGTH),
            exclude_characters=env.get("EXCLUDE_CHARACTERS", default_excluded),
            exclude_numbers=env_bool(env, "EXCLUDE_NUMBERS", False),
            exclude_punctuation=env_bool(env, "EXCLUDE_PUNCTUATION", False),
            exclude_uppercase=env_bool(env, "EXCLUDE_UPPERCASE", False),
            exclude_lowercase=env_bool(env, "EXCLUDE_LOWERCASE", False),
            require_each_included_type=env_bool(env, "REQUIRE_EACH_INCLUDED_TYPE", True),
        )
        policy.check()
        return policy

    def character_classes(self) -> list[str]:
        """The included character types, each without the excluded characters."""
        classes = []
        for excluded, chars in (
            (self.exclude_lowercase, string.ascii_lowercase),
            (self.exclude_uppercase, string.ascii_uppercase),
            (self.exclude_numbers, string.digits),
            (self.exclude_punctuation, PUNCTUATION),
        ):
            if not excluded:
                classes.append("".join(c for c in chars if c not in self.exclude_characters))
        return classes

    def check(self) -> None:
        """Raise ConfigurationError if no password can satisfy this policy."""
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            raise ConfigurationError(
                f"environment variable PASSWORD_LENGTH must be between {MIN_LENGTH} and "
                f"{MAX_LENGTH}"
            )
        classes = self.character_classes()
        if not any(classes):
            raise ConfigurationError(
                "the password policy allows no character at all: EXCLUDE_NUMBERS, "
                "EXCLUDE_PUNCTUATION, EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE and EXCLUDE_CHARACTERS "
                "together exclude everything"
            )
        if self.require_each_included_type and not all(classes):
            raise ConfigurationError(
                "REQUIRE_EACH_INCLUDED_TYPE is true but EXCLUDE_CHARACTERS removes every "
                "character of an included type; exclude that type instead, or set "
                "REQUIRE_EACH_INCLUDED_TYPE=false"
            )
        alphabet = len(set("".join(classes)))
        bits = self.length * math.log2(alphabet)
        if bits < MIN_BITS:
            advice = (
                f"raise PASSWORD_LENGTH to at least {math.ceil(MIN_BITS / math.log2(alphabet))} "
                "or allow more characters"
                if alphabet > 1
                else "allow more characters"
            )
            raise ConfigurationError(
                f"the password policy makes weak passwords: PASSWORD_LENGTH {self.length} from "
                f"{alphabet} allowed characters gives {bits:.0f} bits of randomness, fewer than "
                f"{MIN_BITS}; {advice} (EXCLUDE_CHARACTERS, EXCLUDE_NUMBERS, EXCLUDE_PUNCTUATION, "
                "EXCLUDE_UPPERCASE, EXCLUDE_LOWERCASE)"
            )

    def allows(self, password: str) -> bool:
        """True when `password` could have been generated under this policy."""
        classes = self.character_classes()
        alphabet = set("".join(classes))
        if len(password) != self.length or not set(password) <= alphabet:
            return False
        if self.require_each_included_type:
            return all(any(c in cls for c in password) for cls in classes if cls)
        return True


def generate_password(policy: PasswordPolicy) -> str:
    """A password drawn with `secrets` under `policy` (one of each type when required)."""
    policy.check()
    classes = [c for c in policy.character_classes() if c]
    alphabet = "".join(classes)
    chars = [secrets.choice(c) for c in classes] if policy.require_each_included_type else []
    chars += [secrets.choice(alphabet) for _ in range(policy.length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


PasswordSource = Callable[[PasswordPolicy], str]


def password_source_from_env(env: Mapping[str, str], remote: PasswordSource) -> PasswordSource:
    """`generate_password`, or `remote` (GetRandomPassword) when PASSWORD_SOURCE=secretsmanager."""
    choice = env_choice(env, "PASSWORD_SOURCE", "local", ("local", "secretsmanager"))
    return remote if choice == "secretsmanager" else generate_password
