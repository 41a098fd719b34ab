"""What `smrotate cancel --cleanup --rotator iam-keys` asks of the IAM access-key rotator: the
members a PasswordRotator has for cleanup (`smrotate.operator.cleanup.CleanupChecks`). A key
"logs in" when STS GetCallerIdentity accepts it as the pinned user's; a discarded version's key
is deleted once no labelled version holds it."""

from __future__ import annotations

from typing import Any

from smrotate.errors import LoginRefusedError
from smrotate.rotators.iam_keys.keys import IamKey, UserKeys
from smrotate.store import SecretDescription, SecretStore

CLEANUP_HINT = "check the key with aws sts get-caller-identity, then run cleanup again"


class KeyChecks:
    """Mixed into IamAccessKeyRotator, which provides `keys`, `store` and `parse_secret`."""

    store: SecretStore
    _checked_arn: str | None = None  # the user's ARN, read by the first verify

    @property
    def keys(self) -> UserKeys:
        raise NotImplementedError

    def parse_secret(self, value: Any, what: str) -> IamKey:
        raise NotImplementedError

    def verify(self, key: IamKey) -> None:
        """testSecret's proof, once: STS says `key` is exactly the pinned user's.
        LoginRefusedError when STS refuses it. Read-only; GetUser once per rotator (an operator
        command checks several versions with one)."""
        if self._checked_arn is None:
            self._checked_arn = self.keys.user().arn
        self.keys.prove(key, self._checked_arn, CLEANUP_HINT)

    def logs_in(self, key: IamKey) -> bool:
        """True when STS accepts `key` as the pinned user's, False when it refuses the key;
        another principal's key or an IAM failure raises. Read-only."""
        try:
            self.verify(key)
        except LoginRefusedError:
            return False
        return True

    @property
    def retires_discarded(self) -> bool:
        """Always: a discarded version's key is a live key that no application was given."""
        return True

    def retire_discarded(self, description: SecretDescription, version: str) -> bool:
        """After cleanup discarded `version`: deactivate, then delete, its key unless a labelled
        or claimed version holds it too. True when it deleted one. Idempotent: a key that is
        gone is done, and the next createSecret would delete it anyway."""
        fresh = self.store.describe(description.arn)
        raw = self.store.read_if_exists(fresh.arn, version)
        if raw is None:
            return False
        key = self.parse_secret(raw, f"version {version} of secret {fresh.name}")
        for other in {*fresh.versions, *fresh.claims} - {version}:
            held = self.store.read_if_exists(fresh.arn, other) or {}
            if held.get("access_key_id") == key.access_key_id:
                return False
        for info in self.keys.list():
            if info.access_key_id == key.access_key_id:
                self.keys.retire(info, f"held only by version {version}, which cleanup discarded")
                return True
        return False
