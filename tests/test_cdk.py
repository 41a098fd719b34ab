"""smrotate.cdk: the SmrotateRotation construct deploys what the SAM template deploys.

One App synthesizes a stack for each engine and strategy, with none and with every optional
part (a VPC among them, as tests/sam_templates.py's `parameters` gives them), plus one on arm64
with its own schedule and one whose admin secret, key, VPC and function name are tokens (made in
the stack). Each stack is compared with the SAM template transformed by aws-sam-translator and
resolved for the same parameter values: the same resources, with the same properties (the
function's package aside), so the same IAM statements, invoke permission, schedule, environment
and log group. Every synthesized template lints clean with cfn-lint.

jsii starts node (seconds): the App is synthesized once per run, by the first pytest-xdist
worker that asks (tests/shared.py); the others read its templates. What the construct refuses is
recorded in the same run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sam_templates import (
    ADMIN_STRATEGIES,
    BOUNDARY_ARN,
    ENGINES,
    FUNCTION_NAME,
    MASTER_ARN,
    REGION,
    SECRET_ARN,
    STRATEGIES,
    Resolved,
    load,
    parameters,
    transform,
)
from shared import once_per_run
from test_templates import expected_grants, grants

pytestmark = pytest.mark.xdist_group("cdk")

ACCOUNT = "123456789012"
NODE_RELEASE = "20"  # jsii warns on each start that node 20 is past its end of life


class Case(NamedTuple):
    """One synthesized stack and the SAM parameter values it must equal."""

    stack: str
    engine: str
    values: dict[str, str]  # the SAM template's parameters
    ids: dict[str, str]  # the template's logical id -> the synthesized one
    owned: list[str]  # every logical id under the construct


CASES = [
    (engine, strategy, optional)
    for engine in ENGINES
    for strategy in STRATEGIES[engine] or (None,)
    for optional in (False, True)
]
ARM64_VALUES = {"architecture": "arm64", "scheduleExpression": "rate(7 days)"}
ARM64_VALUES |= {"rotateImmediately": "false"}


def stack_name(engine: str, strategy: str | None, label: str) -> str:
    return f"{engine}-{strategy or 'none'}-{label}"


# ------------------------------------------------------------------------ the synthesis


def _props(stack: Any, values: dict[str, str]) -> dict[str, Any]:
    """The construct's properties for SAM parameter values (what a user would write)."""
    from aws_cdk import Duration
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_secretsmanager as secretsmanager

    def key(name: str) -> Any:
        return kms.Key.from_key_arn(stack, f"{name}Key", values[name]) if name in values else None

    rest = dict(values)
    props: dict[str, Any] = {
        "secret": secretsmanager.Secret.from_secret_attributes(
            stack,
            "Secret",
            secret_complete_arn=rest.pop("secretArn"),
            encryption_key=key("kmsKeyArn"),
        )
    }
    rest.pop("kmsKeyArn", None)
    admin_key = key("masterSecretKmsKeyArn")
    rest.pop("masterSecretKmsKeyArn", None)  # without an admin secret, a key of none: unused
    if "masterSecretArn" in rest:
        props["admin_secret"] = secretsmanager.Secret.from_secret_attributes(
            stack,
            "Admin",
            secret_complete_arn=rest.pop("masterSecretArn"),
            encryption_key=admin_key,
        )
    if "vpcSubnetIds" in rest:
        subnets = rest.pop("vpcSubnetIds").split(",")
        props["vpc"] = ec2.Vpc.from_vpc_attributes(
            stack,
            "Vpc",
            vpc_id="vpc-0123456789abcdef0",
            availability_zones=[f"{REGION}a", f"{REGION}b"][: len(subnets)],
            private_subnet_ids=subnets,
        )
        props["security_groups"] = [
            ec2.SecurityGroup.from_security_group_id(stack, f"Group{i}", group)
            for i, group in enumerate(rest.pop("vpcSecurityGroupIds").split(","))
        ]
    seconds: Callable[[str], Any] = lambda v: Duration.seconds(int(v))  # noqa: E731
    flag: Callable[[str], Any] = lambda v: v == "true"  # noqa: E731
    same: Callable[[str], Any] = lambda v: v  # noqa: E731
    convert: dict[str, tuple[str, Callable[[str], Any]]] = {
        "functionName": ("function_name", same),
        "rotationStrategy": ("strategy", same),
        "masterSecretManagedByRds": ("admin_secret_managed_by_rds", flag),
        "endpoint": ("endpoint", same),
        "excludeCharacters": ("exclude_characters", same),
        "passwordSource": ("password_source", same),
        "databaseCaBundle": ("database_ca_bundle", same),
        "logLevel": ("log_level", same),
        "logRetentionInDays": ("log_retention", lambda v: logs.RetentionDays.TWO_WEEKS),
        "tracing": ("tracing", lambda v: v == "Active"),
        "timeout": ("timeout", seconds),
        "memorySize": ("memory_size", int),
        "permissionsBoundaryArn": (
            "permissions_boundary",
            lambda v: iam.ManagedPolicy.from_managed_policy_arn(stack, "Boundary", v),
        ),
        "architecture": ("architecture", lambda v: lambda_.Architecture.ARM_64),
        "scheduleExpression": ("schedule", lambda v: Duration.days(7)),
        "scheduleDuration": ("duration", lambda v: Duration.hours(int(v.removesuffix("h")))),
        "rotateImmediately": ("rotate_immediately", flag),
        "createAlarms": ("alarms", flag),
        "alarmEmail": ("alarm_email", same),
        "cacheUser": ("cache_user", same),
        "cacheService": ("cache_service", same),
        "userWaitSeconds": ("user_wait", seconds),
        "iamUserName": ("iam_user_name", same),
        "iamUserPath": ("iam_user_path", same),
        "iamDeactivatePrevious": ("iam_deactivate_previous", flag),
        "iamPropagationSeconds": ("iam_propagation", seconds),
    }
    assert values.get("logRetentionInDays", "14") == "14"
    assert values.get("scheduleExpression", "rate(7 days)") == "rate(7 days)"
    for name, value in rest.items():
        prop, to = convert[name]
        props[prop] = to(value)
    return props


def _record(stack: Any, rotation: Any, engine: str, values: dict[str, str]) -> Case:
    from aws_cdk import CfnElement

    built = {
        **rotation.resources,
        "RotationRole": rotation.role,
        "RotationLogGroup": rotation.log_group,
        f"{ENGINES[engine].function}{'Arm64' if values.get('architecture') == 'arm64' else ''}": (
            rotation.function
        ),
    }
    ids = {
        logical: stack.get_logical_id(getattr(c.node, "default_child", None) or c)
        for logical, c in built.items()
    }
    owned = [stack.get_logical_id(c) for c in rotation.node.find_all() if isinstance(c, CfnElement)]
    return Case(stack.stack_name, engine, values, ids, owned)


def _refusals(code: Path) -> dict[str, str]:
    """What the construct refuses, by case: 'ExceptionType: message'."""
    from aws_cdk import App, Duration, Stack
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_secretsmanager as secretsmanager

    from smrotate.cdk import SmrotateRotation

    stack = Stack(App(), "refused")
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Secret", SECRET_ARN)
    admin = secretsmanager.Secret.from_secret_complete_arn(stack, "Admin", MASTER_ARN)
    cases: dict[str, dict[str, Any]] = {
        "admin secret for iam-keys": {
            "engine": "iam-keys",
            "iam_user_name": "app-user",
            "admin_secret": admin,
        },
        "admin strategy without admin secret": {"strategy": "alternating-users"},
        "redis's default strategy without admin secret": {"engine": "redis"},
        "elasticache without its user": {"engine": "elasticache"},
        "strategy of another engine": {"strategy": "dual-password"},
        "function name with a space": {"function_name": "smrotate test"},
        "timeout below the minimum": {"timeout": Duration.seconds(5)},
        "logs kept forever": {"log_retention": logs.RetentionDays.INFINITE},
        "unknown engine": {"engine": "oracle"},
    }
    refused = {}
    for number, (name, props) in enumerate(cases.items()):
        kwargs = {"engine": "postgresql", "secret": secret, "code": str(code), **props}
        try:
            SmrotateRotation(stack, f"Refused{number}", **kwargs)
        except Exception as error:  # recorded, then asserted
            refused[name] = f"{type(error).__name__}: {error}"
        else:
            refused[name] = "accepted"
    return refused


def synthesize(folder: Path) -> None:
    """Synthesize every case into folder/cdk.out; folder/cases.json describes them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", NODE_RELEASE)
        from aws_cdk import App, Environment, Stack
        from aws_cdk import aws_ec2 as ec2
        from aws_cdk import aws_kms as kms
        from aws_cdk import aws_lambda as lambda_
        from aws_cdk import aws_secretsmanager as secretsmanager

        from smrotate.cdk import SmrotateRotation

    code = folder / "package"  # the make target's output stands in: nothing here runs it
    (code / "smrotate").mkdir(parents=True)
    (code / "smrotate" / "__init__.py").write_text("")
    # cfn-lint checks the templates below; the CDK's own validation would take seconds more.
    app = App(outdir=str(folder / "cdk.out"), builtin_cloud_formation_validation=False)
    env = Environment(account=ACCOUNT, region=REGION)
    cases = []

    def add(name: str, engine: str, values: dict[str, str]) -> None:
        stack = Stack(app, name, env=env)
        rotation = SmrotateRotation(
            stack, "Rotation", engine=engine, code=str(code), **_props(stack, values)
        )
        cases.append(_record(stack, rotation, engine, values))

    for engine, strategy, optional in CASES:
        values = {"secretArn": SECRET_ARN, **parameters(engine, strategy, optional=optional)}
        add(stack_name(engine, strategy, ("minimal", "optional")[optional]), engine, values)
    values = {"secretArn": SECRET_ARN, **parameters("mysql", "single-user", optional=False)}
    add("mysql-arm64", "mysql", values | ARM64_VALUES)

    # Tokens: an admin secret, its key and a VPC made in the stack; the name left to the CDK;
    # no account or Region (so no availability zone is hard-coded).
    stack = Stack(app, "postgresql-tokens")
    key = kms.Key(stack, "AdminKey")
    admin = secretsmanager.Secret(stack, "Admin", encryption_key=key)
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="db", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Secret", SECRET_ARN)
    rotation = SmrotateRotation(
        stack,
        "Rotation",
        engine="postgresql",
        code=lambda_.Code.from_asset(str(code)),
        secret=secret,
        strategy="alternating-users",
        admin_secret=admin,
        vpc=vpc,
        security_groups=[group],
    )
    subnets = vpc.select_subnets().subnets
    logical = stack.get_logical_id
    values = {
        "secretArn": SECRET_ARN,
        "rotationStrategy": "alternating-users",
        "masterSecretArn": f"<{logical(admin.node.default_child)}>",  # type: ignore[arg-type,unused-ignore]
        "masterSecretKmsKeyArn": f"<{logical(key.node.default_child)}.Arn>",  # type: ignore[arg-type,unused-ignore]
        "vpcSubnetIds": ",".join(f"<{logical(s.node.default_child)}>" for s in subnets),  # type: ignore[arg-type,unused-ignore]
        "vpcSecurityGroupIds": f"<{logical(group.node.default_child)}.GroupId>",  # type: ignore[arg-type,unused-ignore]
    }
    cases.append(_record(stack, rotation, "postgresql", values))

    refused = _refusals(code)
    targets = {
        f"{engine}/{arch.name}": SmrotateRotation.build_target(engine, arch)
        for engine in ENGINES
        for arch in (lambda_.Architecture.X86_64, lambda_.Architecture.ARM_64)
    }
    app.synth()
    record = {"cases": [c._asdict() for c in cases], "refused": refused, "targets": targets}
    (folder / "cases.json").write_text(json.dumps(record))


class Synthesized(NamedTuple):
    cases: dict[str, Case]
    templates: dict[str, dict[str, Any]]
    refused: dict[str, str]
    targets: dict[str, str]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    with once_per_run(tmp_path_factory, "cdk") as (folder, build):
        if build:
            synthesize(folder)
    record = json.loads((folder / "cases.json").read_text())
    cases = {c["stack"]: Case(**c) for c in record["cases"]}
    out = folder / "cdk.out"
    templates = {name: json.loads((out / f"{name}.template.json").read_text()) for name in cases}
    return Synthesized(cases, templates, record["refused"], record["targets"])


# ---------------------------------------------------------------------------- the checks

_transformed: dict[str, dict[str, Any]] = {}
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9]+)((?:\.[A-Za-z]+)?)>")


def sam(case: Case) -> Resolved:
    """The SAM template, transformed and resolved for the case's parameter values."""
    if case.engine not in _transformed:
        _transformed[case.engine] = transform(load(case.engine))
    return Resolved(_transformed[case.engine], case.values)


def synthesized_for(case: Case, template: dict[str, Any]) -> Resolved:
    """The synthesized template resolved as the SAM one is, with the template's logical ids."""
    renamed = {synth: logical for logical, synth in case.ids.items()}
    # The stack's other resources (a VPC's, a secret's) are named, not resolved.
    resources = {
        k: r if k in case.owned else {"Type": r["Type"]} for k, r in template["Resources"].items()
    }
    resolved = Resolved({**template, "Resources": resources}, {})
    text = json.dumps({k: r for k, r in resolved.resources.items() if k in case.owned})
    text = _PLACEHOLDER.sub(lambda m: f"<{renamed.get(m[1], m[1])}{m[2]}>", text)
    resolved.resources = {}
    for name, resource in json.loads(text).items():
        if "DependsOn" in resource:
            resource["DependsOn"] = [renamed.get(d, d) for d in _list(resource["DependsOn"])]
        resolved.resources[renamed.get(name, name)] = resource
    return resolved


def normal(node: Any) -> Any:
    """Scalars as CloudFormation reads them (14 and "14", True and "true" are one value)."""
    if isinstance(node, dict):
        return {k: normal(v) for k, v in node.items()}
    if isinstance(node, list):
        return [normal(v) for v in node]
    return str(node).lower() if isinstance(node, bool) else str(node)


def each(synthesized: Synthesized) -> list[tuple[Case, Resolved, Resolved]]:
    """(case, the SAM template's resolution, the synthesized one's) for every case; a case
    whose function name was left to the CDK is compared with a SAM stack given that name."""
    found = []
    for name, case in synthesized.cases.items():
        resolved = synthesized_for(case, synthesized.templates[name])
        (function,) = resolved.of_type("AWS::Lambda::Function").values()
        values = {"functionName": function["Properties"]["FunctionName"], **case.values}
        found.append((case, sam(case._replace(values=values)), resolved))
    return found


def test_every_case_was_synthesized(synthesized: Synthesized) -> None:
    assert len(synthesized.cases) == len(CASES) + 2
    names = {stack_name(e, s, ("minimal", "optional")[o]) for e, s, o in CASES}
    assert names <= set(synthesized.cases)


def test_the_construct_creates_the_templates_resources(synthesized: Synthesized) -> None:
    """Every resource the SAM stack creates, with the same properties, and nothing else; the
    function's differ only by its package (Code) and SAM's tag."""
    for case, expected, found in each(synthesized):
        renamed = {synth: logical for logical, synth in case.ids.items()}
        owned = {renamed.get(logical, logical) for logical in case.owned}
        assert owned == set(expected.resources), case.stack
        construct = {k: v for k, v in found.resources.items() if k in owned}
        for logical, resource in expected.resources.items():
            made = construct[logical]
            assert made["Type"] == resource["Type"], (case.stack, logical)
            properties = dict(resource["Properties"])
            if resource["Type"] == "AWS::Lambda::Function":
                properties.pop("Tags")  # lambda:createdBy=SAM
                properties.pop("Code")
                assert "Code" in made["Properties"]
                made = {**made, "Properties": dict(made["Properties"])}
                made["Properties"].pop("Code")
            assert normal(made["Properties"]) == normal(properties), (case.stack, logical)
            assert set(_list(resource.get("DependsOn", []))) <= set(
                _list(made.get("DependsOn", []))
            ), (case.stack, logical)


def test_the_role_holds_the_templates_statements(synthesized: Synthesized) -> None:
    """The same statements, in the same policies, and no other IAM policy (the CDK's own
    additions, such as X-Ray's for tracing, are not made: the template's are)."""
    for case, expected, found in each(synthesized):
        statements = [(where.split("/", 1)[-1], s) for where, s in found.statements()]
        assert statements == [(w.split("/", 1)[1], s) for w, s in expected.statements()]
        assert len(found.of_type("AWS::IAM::Role")) == 1, case.stack
        if case.values.get("functionName") == FUNCTION_NAME:
            assert grants(found) == expected_grants(case.engine, case.values), case.stack


def test_the_function_gets_the_templates_environment(synthesized: Synthesized) -> None:
    for case, expected, found in each(synthesized):
        (function,) = found.of_type("AWS::Lambda::Function").values()
        (want,) = expected.of_type("AWS::Lambda::Function").values()
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables == want["Properties"]["Environment"]["Variables"], case.stack
        admin = case.values.get("masterSecretArn", "")
        if case.values.get("rotationStrategy") in ADMIN_STRATEGIES:
            assert variables["ADMIN_SECRET_ARN"] == admin
        elif "ADMIN_SECRET_ARN" in variables:
            assert variables["ADMIN_SECRET_ARN"] == ""


def test_secrets_manager_alone_invokes_the_function_from_this_account(
    synthesized: Synthesized,
) -> None:
    for case, _, found in each(synthesized):
        (permission,) = found.of_type("AWS::Lambda::Permission").values()
        (function,) = [
            k for k, r in found.resources.items() if r["Type"] == "AWS::Lambda::Function"
        ]
        assert permission["Properties"] == {
            "FunctionName": f"<{function}.Arn>",
            "Action": "lambda:InvokeFunction",
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": ACCOUNT,
        }, case.stack


def test_the_schedule_and_the_log_group(synthesized: Synthesized) -> None:
    for case, _, found in each(synthesized):
        (schedule,) = found.of_type("AWS::SecretsManager::RotationSchedule").values()
        rules = {"ScheduleExpression": case.values.get("scheduleExpression", "rate(30 days)")}
        if "scheduleDuration" in case.values:
            rules["Duration"] = case.values["scheduleDuration"]
        assert schedule["Properties"]["RotationRules"] == rules, case.stack
        assert schedule["Properties"]["SecretId"] == SECRET_ARN
        immediately = case.values.get("rotateImmediately", "true")
        assert str(schedule["Properties"]["RotateImmediatelyOnUpdate"]).lower() == immediately
        assert schedule["DependsOn"] == ["RotationInvokePermission"]
        (group,) = found.of_type("AWS::Logs::LogGroup").values()
        (function,) = found.of_type("AWS::Lambda::Function").values()
        name = function["Properties"]["FunctionName"]
        assert group["Properties"] == {
            "LogGroupName": f"/aws/lambda/{name}",
            "RetentionInDays": int(case.values.get("logRetentionInDays", "90")),
        }
        assert "RotationLogGroup" in function["DependsOn"]


def test_the_function_runs_on_the_architecture_in_the_vpc_it_is_given(
    synthesized: Synthesized,
) -> None:
    for case, _, found in each(synthesized):
        (function,) = found.of_type("AWS::Lambda::Function").values()
        properties = function["Properties"]
        assert properties["Architectures"] == [case.values.get("architecture", "x86_64")]
        assert properties["Runtime"] == "python3.13"  # the template's default
        if "vpcSubnetIds" in case.values:
            assert properties["VpcConfig"]["SubnetIds"] == case.values["vpcSubnetIds"].split(",")
        else:
            assert "VpcConfig" not in properties
        if "permissionsBoundaryArn" in case.values:
            (role,) = found.of_type("AWS::IAM::Role").values()
            assert role["Properties"]["PermissionsBoundary"] == BOUNDARY_ARN


def test_a_name_left_to_the_cdk_names_everything_alike(synthesized: Synthesized) -> None:
    case = synthesized.cases["postgresql-tokens"]
    found = synthesized_for(case, synthesized.templates[case.stack])
    (function,) = found.of_type("AWS::Lambda::Function").values()
    name = function["Properties"]["FunctionName"]
    assert "functionName" not in case.values
    assert re.fullmatch(load("postgresql")["Parameters"]["functionName"]["AllowedPattern"], name)
    assert name.startswith("postgresqltokens-Rotation-")  # the stack's name and the path
    (group,) = found.of_type("AWS::Logs::LogGroup").values()
    assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{name}"
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == name
    assert variables["ADMIN_SECRET_ARN"] == case.values["masterSecretArn"]  # a Ref


def test_the_synthesized_templates_lint_clean(synthesized: Synthesized) -> None:
    """cfn-lint, as tests/test_templates.py's `lint` runs it, finds nothing in any stack (its
    rules loaded once here: that is most of each `lint` call's time)."""
    from cfnlint.config import ConfigMixIn  # type: ignore[import-untyped]
    from cfnlint.decode import decode_str  # type: ignore[import-untyped]
    from cfnlint.runner import Runner  # type: ignore[import-untyped]

    runner = Runner(ConfigMixIn(regions=[REGION]))
    for name, template in synthesized.templates.items():
        decoded, problems = decode_str(json.dumps(template))
        assert not problems
        assert [str(m) for m in runner.validate_template(decoded)] == [], name


def test_the_construct_refuses_what_the_template_refuses(synthesized: Synthesized) -> None:
    refused = synthesized.refused
    assert refused == {
        "admin secret for iam-keys": (
            "ConfigurationError: the iam-keys rotator takes no admin_secret"
        ),
        "admin strategy without admin secret": (
            "ConfigurationError: single-user-via-admin and alternating-users need masterSecretArn."
        ),
        "redis's default strategy without admin secret": (
            "ConfigurationError: single-user-via-admin needs masterSecretArn."
        ),
        "elasticache without its user": (
            "ConfigurationError: the elasticache rotator needs cache_user"
        ),
        "strategy of another engine": refused["strategy of another engine"],
        "function name with a space": refused["function name with a space"],
        "timeout below the minimum": "ConfigurationError: timeout=5: MinValue is 10",
        "logs kept forever": (
            "ConfigurationError: log_retention: the log group keeps its events for a time"
        ),
        "unknown engine": refused["unknown engine"],
    }
    assert refused["strategy of another engine"].startswith(
        "ConfigurationError: rotationStrategy='dual-password': one of single-user,"
    )
    assert refused["function name with a space"].startswith(
        "ConfigurationError: functionName='smrotate test' does not match"
    )
    assert refused["unknown engine"].startswith(
        "ConfigurationError: no template for engine 'oracle'"
    )


def test_the_build_targets_are_the_templates(synthesized: Synthesized) -> None:
    for engine, spec in ENGINES.items():
        assert synthesized.targets[f"{engine}/x86_64"] == f"build-{spec.function}"
        assert synthesized.targets[f"{engine}/arm64"] == f"build-{spec.function}Arm64"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
