"""doctor's AWS checks: the rotation function, its invoke permission and strategy, the secret's
KMS key policy, and the secret's resource policy. Read operations only: Lambda GetFunction and
GetPolicy, IAM GetRole, KMS DescribeKey and GetKeyPolicy, Secrets Manager DescribeSecret and
GetResourcePolicy. Policies are read by `doctor_policy`, which says what it does not evaluate.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from smrotate import redaction
from smrotate.operator.connection import Connection
from smrotate.operator.doctor import Check, failed, passed, skipped
from smrotate.operator.doctor_policy import Statement, allowed_by, denials, statements
from smrotate.store import SecretDescription

SERVICE = "secretsmanager.amazonaws.com"
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")  # GetSecretValue, PutSecretValue
SM_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
AWS_MANAGED_KEY = "alias/aws/secretsmanager"


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients doctor reads with (Secrets Manager is the store's own)."""

    secretsmanager: Any
    lambda_: Any
    iam: Any
    kms: Any


def open_clients(args: argparse.Namespace, secretsmanager: Any) -> AwsClients:
    """Lambda, IAM and KMS clients for the CLI's profile and region (open_store checked them).
    --endpoint-url is Secrets Manager's alone (it may be a VPC endpoint); these follow
    botocore's own settings: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_LAMBDA and the like."""
    from smrotate.operator.connection import session_and_config

    session, config = session_and_config(Connection(args.region, args.profile))

    def client(service: str) -> Any:
        return session.client(service, config=config)

    return AwsClients(secretsmanager, client("lambda"), client("iam"), client("kms"))


class CallFailed(Exception):
    """An AWS call that failed: its error code and a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def call(client: Any, operation: str, **params: Any) -> Any:
    """`client.<operation>(**params)`; CallFailed with the error code (scrubbed message)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, operation)(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = redaction.scrub(" ".join(str(error.get("Message", "")).split()))
        raise CallFailed(code, f"{operation}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise CallFailed(type(exc).__name__, f"{operation}: {type(exc).__name__}") from None


def account_of(arn: str) -> str:
    """The account id in an ARN."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def aws_checks(
    clients: AwsClients,
    description: SecretDescription,
    strategy: str | None,
    lambda_arn: str | None,
) -> list[Check]:
    """The function, its permission and strategy, the KMS key, the resource policy."""
    arn = lambda_arn or description.rotation_lambda_arn
    config: dict[str, Any] | None = None
    if arn is None:
        first = failed(
            "function",
            f"secret {description.name} names no rotation function",
            "pass --lambda-arn, or turn rotation on with the function's ARN",
        )
    else:
        first, config = _function(clients, arn)
    role = None if config is None else str(config.get("Role"))
    needs = "needs the function check to pass"
    done = [first]
    done.append(
        skipped("invoke-permission", needs)
        if config is None
        else _permission(clients, arn or "", description)
    )
    done.append(
        skipped("function-strategy", needs) if config is None else _strategy(config, strategy)
    )
    done.append(_kms(clients, description, role))
    done.append(_resource_policy(clients, description, role))
    return done


def _function(clients: AwsClients, arn: str) -> tuple[Check, dict[str, Any] | None]:
    name = "function"
    try:
        config = call(clients.lambda_, "get_function", FunctionName=arn)["Configuration"]
    except CallFailed as exc:
        fix = "deploy the rotation function, or pass the right --lambda-arn"
        if exc.code != "ResourceNotFoundException":
            fix = "check that this identity may call lambda:GetFunction on it"
        return failed(name, f"function {arn}: {exc}", fix), None
    role = str(config.get("Role", ""))
    try:
        call(clients.iam, "get_role", RoleName=role.rsplit("/", 1)[-1])
    except CallFailed as exc:
        found = f"function {config['FunctionName']}'s role {role}: {exc}"
        if exc.code == "NoSuchEntity":
            return failed(name, found, "give the function an existing execution role"), None
        return failed(name, found, "check that this identity may call iam:GetRole"), None
    return passed(name, f"{config['FunctionArn']} exists, role {role}"), config


def _permission(clients: AwsClients, arn: str, description: SecretDescription) -> Check:
    from smrotate.operator.rotate import add_permission_command

    name, account = "invoke-permission", account_of(description.arn)
    fix = add_permission_command(arn, description.arn)
    try:
        document = call(clients.lambda_, "get_policy", FunctionName=arn)["Policy"]
        found = statements(document)
    except CallFailed as exc:
        if exc.code == "ResourceNotFoundException":
            return failed(
                name, f"the function has no resource policy: {SERVICE} cannot invoke it", fix
            )
        return failed(name, str(exc), "check that this identity may call lambda:GetPolicy")
    except ValueError:
        return failed(name, "the function's resource policy is not a JSON policy", fix)
    invokers = [
        s
        for s in found
        if s.effect == "Allow"
        and SERVICE in [str(p) for p in _services(s.raw.get("Principal"))]
        and s.acts_on("lambda:InvokeFunction")
    ]
    if not invokers:
        return failed(name, f"no statement lets {SERVICE} invoke the function", fix)
    for statement in invokers:
        accounts = _source_accounts(statement.raw.get("Condition") or {})
        if account in accounts:
            return passed(name, f"{SERVICE} may invoke it from account {account} ({statement.sid})")
    sids = ", ".join(s.sid for s in invokers)
    return failed(
        name,
        f"{sids} lets {SERVICE} invoke the function without an aws:SourceAccount condition "
        f"for account {account}: a secret in any account could have it run",
        f"aws lambda remove-permission --function-name {arn} --statement-id {invokers[0].sid}; "
        f"then {fix}",
    )


def _services(principal: Any) -> list[Any]:
    if not isinstance(principal, dict):
        return []
    value = principal.get("Service")
    return value if isinstance(value, list) else [value]


def _source_accounts(condition: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for operator, entries in condition.items():
        if operator.lower() not in {"stringequals", "stringlike", "arnequals", "arnlike"}:
            continue
        for key, values in (entries or {}).items():
            if key.lower() == "aws:sourceaccount":
                found.update(str(v) for v in (values if isinstance(values, list) else [values]))
    return found


def _strategy(config: dict[str, Any], strategy: str | None) -> Check:
    name = "function-strategy"
    if strategy is None:
        return skipped(name, "the rotator has no strategies")
    variables = (config.get("Environment") or {}).get("Variables") or {}
    runs = str(variables.get("ROTATION_STRATEGY", "")).strip() or "single-user"
    if runs == strategy:
        return passed(name, f"the function's ROTATION_STRATEGY is {runs}, as checked here")
    return failed(
        name,
        f"the function's ROTATION_STRATEGY is {runs}; doctor checked {strategy}",
        f"run doctor with --strategy {runs}, or set the function's ROTATION_STRATEGY to {strategy}",
    )


def _key_policy(
    clients: AwsClients, description: SecretDescription, role: str | None
) -> Check | tuple[str, list[Statement]]:
    """The customer-managed key's ARN and policy statements, or the check's skip or failure."""
    name = "kms-key"
    try:
        key = description.kms_key_id
        if not key or key == AWS_MANAGED_KEY:
            return skipped(name, f"the AWS managed key {AWS_MANAGED_KEY}")
        meta = call(clients.kms, "describe_key", KeyId=key)["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            return skipped(name, f"{key} is an AWS managed key")
        if role is None:
            return skipped(name, "needs the function's role (the function check)")
        policy = call(clients.kms, "get_key_policy", KeyId=meta["KeyId"], PolicyName="default")
        return str(meta["Arn"]), statements(policy["Policy"])
    except CallFailed as exc:
        fix = "check that this identity may call kms:DescribeKey and kms:GetKeyPolicy"
        return failed(name, str(exc), fix)
    except ValueError:
        return failed(name, "the key policy is not a JSON policy", "fix the key policy")


def _kms(clients: AwsClients, description: SecretDescription, role: str | None) -> Check:
    name = "kms-key"
    found = _key_policy(clients, description, role)
    if isinstance(found, Check):
        return found
    assert role is not None  # _key_policy skips without it
    (key_arn, policy), account = found, account_of(description.arn)
    denied, _ = denials(policy, role, account, KMS_ACTIONS)
    if denied:
        statement, action = denied[0]
        found_text = f"key policy statement {statement.sid} denies {role} {action}"
        return failed(name, found_text, "remove that Deny for the function's role")
    how = []
    for action in KMS_ACTIONS:
        allowed = allowed_by(policy, role, account, action)
        if allowed is None:
            return failed(
                name,
                f"the key policy of {key_arn} does not allow {role} {action}",
                f"add a key policy statement allowing {role} kms:Decrypt and "
                f"kms:GenerateDataKey (or allowing arn:aws:iam::{account}:root, delegating "
                "to IAM)",
            )
        how.append(allowed[1])
    via = "the role"
    if set(how) != {"role"}:
        via = "the account root (IAM delegation: the role's own IAM policy is not evaluated)"
    return passed(name, f"{key_arn}'s policy allows {', '.join(KMS_ACTIONS)} to {via}")


def _resource_policy(
    clients: AwsClients, description: SecretDescription, role: str | None
) -> Check:
    name = "resource-policy"
    try:
        document = call(
            clients.secretsmanager, "get_resource_policy", SecretId=description.arn
        ).get("ResourcePolicy")
    except CallFailed as exc:
        return failed(
            name, str(exc), "check that this identity may call secretsmanager:GetResourcePolicy"
        )
    if not document:
        return passed(name, "the secret has no resource policy")
    if role is None:
        return skipped(name, "needs the function's role (the function check)")
    try:
        found = statements(document)
    except ValueError:
        return failed(name, "the resource policy is not a JSON policy", "fix the resource policy")
    denied, unsure = denials(found, role, account_of(description.arn), SM_ACTIONS)
    if denied:
        statement, action = denied[0]
        return failed(
            name,
            f"resource policy statement {statement.sid} denies {role} {action}",
            f"exclude the function's role from that Deny (e.g. a Condition ArnNotEquals "
            f"aws:PrincipalArn {role}), or remove it",
        )
    unknown = sorted({k for s in unsure for k in s.unknown_keys()})
    note = (
        f"; Deny statements with conditions not evaluated ({', '.join(unknown)})" if unknown else ""
    )
    return passed(name, f"no Deny statement applies to {role}{note}")
