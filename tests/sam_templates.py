"""The SAM templates as data: loaded, transformed by aws-sam-translator, and resolved for one set of
parameter values (conditions decided, intrinsic functions evaluated), so tests can check what
CloudFormation would create: IAM statements, environment variables, the invoke permission.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
# engine -> (template file, logical id of its function)
ENGINES = {
    "postgresql": ("postgresql.yaml", "PostgreSQLRotationFunction"),
    "mysql": ("mysql.yaml", "MySQLRotationFunction"),
}
# engine -> the strategies its template allows (the rotator's own, in the same order)
STRATEGIES = {
    "postgresql": ("single-user", "single-user-via-admin", "alternating-users", "alternating-pair"),
    "mysql": (
        "single-user",
        "single-user-via-admin",
        "alternating-users",
        "alternating-pair",
        "dual-password",
    ),
}
ADMIN_STRATEGIES = ("single-user-via-admin", "alternating-users")  # they need masterSecretArn
ACCOUNT = "123456789012"
REGION = "us-east-1"
FUNCTION_NAME = "smrotate-test"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
MASTER_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0123-AbCdEf"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app/db-AbCdEf"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MASTER_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ac"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/smrotate-boundary"
# Every optional part switched on.
OPTIONAL_PARTS = {
    "endpoint": f"https://secretsmanager.{REGION}.amazonaws.com",
    "vpcSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "vpcSecurityGroupIds": "sg-0123456789abcdef0",
    "kmsKeyArn": KEY_ARN,
    "masterSecretKmsKeyArn": MASTER_KEY_ARN,
    "masterSecretManagedByRds": "true",
    "databaseCaBundle": "certs/ca-bundle.pem",
    "secretArn": SECRET_ARN,
    "scheduleDuration": "3h",
    "createAlarms": "true",
    "alarmEmail": "ops@example.com",
    "passwordSource": "secretsmanager",
    "logLevel": "DEBUG",
    "logRetentionInDays": "14",
    "tracing": "Active",
    "timeout": "120",
    "memorySize": "512",
    "permissionsBoundaryArn": BOUNDARY_ARN,
}
NO_VALUE = object()
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "smrotate-test-stack",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": NO_VALUE,
}


def load(engine: str) -> dict[str, Any]:
    """The engine's template as plain JSON data (short-form intrinsics as their long form)."""
    from cfnlint.decode import decode_str  # type: ignore[import-untyped]

    path = TEMPLATES / ENGINES[engine][0]
    template, problems = decode_str(path.read_text())
    assert not problems, problems
    return dict(json.loads(json.dumps(template)))


def parameters(strategy: str, *, optional: bool) -> dict[str, str]:
    """Parameter values for a strategy, with every optional part or with none."""
    values = {"functionName": FUNCTION_NAME, "rotationStrategy": strategy}
    if strategy in ADMIN_STRATEGIES:
        values["masterSecretArn"] = MASTER_ARN
    if optional:
        values.update(OPTIONAL_PARTS)
    return values


def with_defaults(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `template` whose parameter defaults are `values` (a variant to lint)."""
    variant = json.loads(json.dumps(template))
    for name, value in values.items():
        variant["Parameters"][name]["Default"] = value
    return dict(variant)


def transform(template: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudFormation template that the SAM transform makes of `template`."""
    from samtranslator.translator.transform import (  # type: ignore[import-untyped]
        transform as sam_transform,
    )

    source = json.loads(json.dumps(template))
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/function.zip"  # as after packaging

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            raise AssertionError("the templates name no managed policy")

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION  # the translator asks boto3 for a region
    try:
        return dict(sam_transform(source, {}, NoManagedPolicies()))
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


class Resolved:
    """A template evaluated for parameter values: `resources` holds what CloudFormation would
    create, with every intrinsic function replaced by its value (a resource's Ref or GetAtt by
    the placeholder `<Logical>` or `<Logical.Attribute>`)."""

    def __init__(self, template: Mapping[str, Any], values: Mapping[str, str]) -> None:
        self.template = template
        self.values: dict[str, Any] = {}
        for name, spec in template["Parameters"].items():
            value = values.get(name, spec.get("Default"))
            assert value is not None, f"parameter {name} has no value and no default"
            allowed = spec.get("AllowedValues")
            assert allowed is None or value in allowed, f"{name}={value!r} is not allowed"
            pattern = spec.get("AllowedPattern")
            assert pattern is None or re.fullmatch(pattern, value), f"{name}={value!r}"
            if spec["Type"] == "CommaDelimitedList":
                value = value.split(",") if value else [""]
            self.values[name] = value
        unknown = set(values) - set(self.values)
        assert not unknown, f"the template has no parameters {unknown}"
        self.resources = {
            name: self.value(resource)
            for name, resource in template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def broken_rules(self) -> list[str]:
        """The AssertDescription of every template rule these values break."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            broken += [
                a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])
            ]
        return broken

    def condition(self, name: str) -> bool:
        """The value of condition `name`."""
        return bool(self.value(self.template["Conditions"][name]))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """The created resources of type `kind`, by logical id."""
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def statements(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(role or policy name, statement) for every identity policy statement."""
        for name, role in self.of_type("AWS::IAM::Role").items():
            for policy in role["Properties"].get("Policies", []):
                for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                    yield f"{name}/{policy['PolicyName']}", statement
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for name, policy in self.of_type(kind).items():
                for statement in _as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                    yield name, statement

    def value(self, node: Any) -> Any:  # noqa: PLR0911
        """`node` with its intrinsic functions evaluated and AWS::NoValue dropped."""
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"<{logical}.{attribute}>"
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if key == "Condition":
                return self.condition(arg)
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](self.value(arg))
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.values:
            return self.values[name]
        assert name in self.template["Resources"], f"Ref to unknown {name}"
        return f"<{name}>"

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return "<" + name + ">"
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_FUNCTIONS: dict[str, Any] = {
    "Fn::Equals": lambda a: a[0] == a[1],
    "Fn::Not": lambda a: not a[0],
    "Fn::And": all,
    "Fn::Or": any,
    "Fn::Join": lambda a: a[0].join(a[1]),
    "Fn::Split": lambda a: a[1].split(a[0]),
    "Fn::Select": lambda a: a[1][int(a[0])],
}
