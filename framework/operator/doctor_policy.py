"""A small evaluator of IAM policy documents, for doctor's KMS key and resource policy checks.

It answers "does this statement apply to principal ROLE for action A": `Action`/`NotAction`
with wildcards, `Principal` (`*`, the role's ARN, the account as `ACCOUNT` or its root ARN),
and conditions on `aws:PrincipalArn` (String/Arn Equals, Like and their Not forms). It does
not evaluate: `NotPrincipal`, `Resource`, any other condition key (reported as unknown), the
role's own IAM policies, permission boundaries, SCPs, or grants.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

PRINCIPAL_ARN = "aws:principalarn"
MATCHING = {"stringequals", "stringlike", "arnequals", "arnlike"}
NOT_MATCHING = {"stringnotequals", "stringnotlike", "arnnotequals", "arnnotlike"}


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    """One statement of a policy document."""

    raw: dict[str, Any]

    @property
    def sid(self) -> str:
        """The statement's Sid, or a placeholder."""
        return str(self.raw.get("Sid") or "(no Sid)")

    @property
    def effect(self) -> str:
        """Allow or Deny."""
        return str(self.raw.get("Effect", ""))

    def acts_on(self, action: str) -> bool:
        """True when the statement covers `action` (case-insensitive, with wildcards)."""
        if "NotAction" in self.raw:
            return not any(_like(p, action) for p in _list(self.raw["NotAction"]))
        return any(_like(p, action) for p in _list(self.raw.get("Action")))

    def principal(self, role_arn: str, account: str) -> str | None:
        """ "role" when it names the role (or anyone), "account" when it names the account
        (IAM delegation: the role's own policy decides), None otherwise."""
        principal = self.raw.get("Principal")
        if principal == "*":
            return "role"
        if not isinstance(principal, dict):
            return None
        names = {str(n) for n in _list(principal.get("AWS"))}
        if "*" in names or role_arn in names:
            return "role"
        if account in names or f"arn:aws:iam::{account}:root" in names:
            return "account"
        return None

    def condition(self, role_arn: str) -> bool | None:
        """True when the conditions hold for the role, False when they do not, None when one
        of them is on a key this evaluator does not know."""
        blocks = self.raw.get("Condition") or {}
        for operator, entries in blocks.items():
            op = operator.lower().removeprefix("forallvalues:").removeprefix("foranyvalue:")
            for key, values in (entries or {}).items():
                if key.lower() != PRINCIPAL_ARN or op not in MATCHING | NOT_MATCHING:
                    return None
                hit = any(_like(str(v), role_arn, case=True) for v in _list(values))
                if hit != (op in MATCHING):
                    return False
        return True

    def unknown_keys(self) -> list[str]:
        """The condition keys this evaluator does not evaluate."""
        blocks = self.raw.get("Condition") or {}
        return sorted({k for e in blocks.values() for k in e or {} if k.lower() != PRINCIPAL_ARN})


def _like(pattern: str, text: str, case: bool = False) -> bool:
    if not case:
        pattern, text = pattern.lower(), text.lower()
    return fnmatchcase(text, pattern.replace("[", "[[]"))


def statements(document: str) -> list[Statement]:
    """The statements of a JSON policy document; ValueError when it is not one."""
    policy = json.loads(document)
    if not isinstance(policy, dict):
        raise ValueError("a policy document is a JSON object")
    return [Statement(s) for s in _list(policy.get("Statement")) if isinstance(s, dict)]


def denials(
    found: Iterable[Statement], role_arn: str, account: str, actions: Iterable[str]
) -> tuple[list[tuple[Statement, str]], list[Statement]]:
    """(Deny statements that apply to the role, each with an action it denies; Deny statements
    on the role whose conditions this evaluator cannot decide)."""
    applies, unsure = [], []
    wanted = list(actions)
    for statement in found:
        if statement.effect != "Deny" or statement.principal(role_arn, account) is None:
            continue
        denied = [a for a in wanted if statement.acts_on(a)]
        if not denied:
            continue
        holds = statement.condition(role_arn)
        if holds is None:
            unsure.append(statement)
        elif holds:
            applies.append((statement, denied[0]))
    return applies, unsure


def allowed_by(
    found: Iterable[Statement], role_arn: str, account: str, action: str
) -> tuple[Statement, str] | None:
    """The first Allow statement for `action` naming the role (or anyone) or, failing that,
    the account (IAM delegation), with how it names it; None when none does."""
    best: tuple[Statement, str] | None = None
    for statement in found:
        how = statement.principal(role_arn, account)
        if statement.effect != "Allow" or how is None or not statement.acts_on(action):
            continue
        if statement.condition(role_arn) is False:
            continue
        if how == "role":
            return statement, how
        best = best or (statement, how)
    return best
