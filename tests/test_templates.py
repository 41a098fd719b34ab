"""The SAM templates: cfn-lint clean with the SAM transform (what `sam validate --lint` runs) as
shipped and for every distinct variant (strategies, with and without the optional parts); the
same document up to each engine's listed differences; and, once transformed, least privilege.

The engines and what the tests know of each are tests/sam_templates.py's ENGINES."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeSecret
from memory import MemoryRotator, MemoryTarget
from sam_templates import (
    ACCOUNT,
    ADMIN_STRATEGIES,
    BOUNDARY_ARN,
    DIFFERENCES,
    ENGINES,
    FUNCTION_ARN,
    FUNCTION_NAME,
    KEY_ARN,
    MASTER_ARN,
    MASTER_KEY_ARN,
    REFERENCE,
    REGION,
    ROOT,
    SECRET_ARN,
    STRATEGIES,
    TEMPLATES,
    Resolved,
    has_admin,
    load,
    parameters,
    rotators,
    transform,
    with_defaults,
)

from smrotate.errors import SecretFormatError
from smrotate.operator.driver import LocalDriver
from smrotate.strategies import STRATEGIES as ALL_STRATEGIES
from smrotate.testing.patience import scaled

# A template without strategies (iam-keys.yaml) is tested with the strategy None.
VARIANTS = [
    pytest.param(engine, strategy, optional, id=f"{engine}-{strategy or 'no-strategy'}-{label}")
    for engine in ENGINES
    for strategy in STRATEGIES[engine] or (None,)
    for optional, label in ((False, "minimal"), (True, "all-optional"))
]
SAM = str(Path(sys.executable).with_name("sam"))  # aws-sam-cli, a dev dependency
PARTITION_REGION_ACCOUNT = f"arn:aws:{{}}:{REGION}:{ACCOUNT}"


def lint(template: dict[str, Any]) -> list[str]:
    """cfn-lint's findings (errors, warnings, informational), as `sam validate --lint` runs it."""
    from cfnlint.api import ManualArgs  # type: ignore[import-untyped]
    from cfnlint.api import lint as cfn_lint

    return [
        str(match) for match in cfn_lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
    ]


@cache
def transformed(engine: str) -> dict[str, Any]:
    return transform(load(engine))


def resolved(engine: str, strategy: str | None, optional: bool) -> Resolved:
    return Resolved(transformed(engine), parameters(engine, strategy, optional=optional))


# ------------------------------------------------------------------------------------- lint


def test_sam_validate_lint_passes() -> None:
    """The command itself, on one template (8 to 15 s: the SAM CLI and cfn-lint start in a
    fresh process). It runs cfn-lint's `lint` with the SAM transform, which the next test runs
    in this process on every template as shipped, and the one after on every variant."""
    template = TEMPLATES / ENGINES[REFERENCE].template
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    run = subprocess.run(
        [SAM, "validate", "--lint", "--template", str(template), "--region", REGION],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=scaled(120),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "is a valid SAM Template" in run.stdout + run.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_every_template_lints_clean_as_shipped(engine: str) -> None:
    """What `sam validate --lint --template templates/<engine>.yaml` reports, with its defaults."""
    assert lint(load(engine)) == []


# cfn-lint takes a second or two per variant. A strategy that decides every condition as another
# one does makes the same template for it (the next test proves it), so it is linted once: one
# strategy that needs no admin secret, one that does (and None: a template without strategies).
LINTED_STRATEGIES = ("single-user", "single-user-via-admin")


def linted_twin(strategy: str) -> str:
    """The linted strategy that decides the conditions as `strategy` does."""
    return LINTED_STRATEGIES[strategy in ADMIN_STRATEGIES]


def first(engine: str) -> str | None:
    """The engine's first strategy; None for a template without strategies."""
    return (STRATEGIES[engine] or (None,))[0]


def richest(engine: str) -> str | None:
    """The engine's strategy that switches the most on: one that uses the admin secret."""
    return next((s for s in STRATEGIES[engine] if s in ADMIN_STRATEGIES), first(engine))


@pytest.mark.parametrize(
    ("engine", "strategy", "optional"),
    [v for v in VARIANTS if v.values[1] in (*LINTED_STRATEGIES, None)],
)
def test_every_variant_lints_clean(engine: str, strategy: str | None, optional: bool) -> None:
    variant = with_defaults(load(engine), parameters(engine, strategy, optional=optional))
    assert lint(variant) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_the_strategies_not_linted_make_a_linted_strategys_template(engine: str) -> None:
    template = transformed(engine)
    for optional in (False, True):
        for strategy in set(STRATEGIES[engine]) - set(LINTED_STRATEGIES):
            assert linted_twin(strategy) in STRATEGIES[engine], strategy
            twin = resolved(engine, linted_twin(strategy), optional)
            other = resolved(engine, strategy, optional)
            for name in template["Conditions"]:
                assert other.condition(name) == twin.condition(name), (strategy, name)
            assert other.broken_rules() == twin.broken_rules()


def test_lint_finds_a_broken_template() -> None:
    """The lint tests can fail: cfn-lint reports a retired runtime and a misspelt property."""
    variant = load("postgresql")
    variant["Resources"]["PostgreSQLRotationFunction"]["Properties"]["Runtime"] = "python3.8"
    variant["Resources"]["RotationSchedule"]["Properties"]["RotationRule"] = {}
    findings = lint(variant)
    assert any("python3.8" in finding for finding in findings), findings
    assert any("RotationRule" in finding for finding in findings), findings


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != REFERENCE])
def test_the_templates_differ_only_in_the_engine(engine: str) -> None:
    """Each template is postgresql.yaml with its listed replacements (tests/sam_templates.py's
    DIFFERENCES): a change to a shared part is made to every template, or this fails."""
    text = (TEMPLATES / ENGINES[REFERENCE].template).read_text()
    for ours, theirs in DIFFERENCES[engine]:
        assert ours in text, f"not in {ENGINES[REFERENCE].template}: {ours!r}"
        text = text.replace(ours, theirs)
    assert text == (TEMPLATES / ENGINES[engine].template).read_text()


def test_every_template_is_tested_and_has_its_sam_config() -> None:
    """A template in templates/ that ENGINES does not list is tested by nothing here; each has
    its environment in samconfig.toml (`sam build --config-env <engine>`, docs/deploy.md)."""
    assert sorted(p.name for p in TEMPLATES.glob("*.yaml")) == sorted(
        e.template for e in ENGINES.values()
    )
    assert set(DIFFERENCES) == set(ENGINES) - {REFERENCE}
    assert {p.name for p in (ROOT / "rotators").iterdir() if (p / "__init__.py").is_file()} == {
        rotators(engine)[0] for engine in ENGINES
    }, "a rotator without a template (or a template without its rotator)"
    config = tomllib.loads((TEMPLATES / "samconfig.toml").read_text())
    for engine, spec in ENGINES.items():
        assert config[engine]["build"]["parameters"] == {
            "template_file": spec.template,
            "build_dir": f".aws-sam/{engine}",
            "build_in_source": True,
        }
        deploy = config[engine]["deploy"]["parameters"]
        assert deploy["template_file"] == f".aws-sam/{engine}/template.yaml"
        assert deploy["stack_name"] == f"smrotate-{engine}"
        assert deploy["capabilities"] == "CAPABILITY_IAM"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_template_offers_the_rotators_strategies(engine: str) -> None:
    """rotationStrategy allows exactly what the rotator offers (its hooks decide), and the
    AdminStrategy condition (the admin secret's permissions) holds for exactly the strategies
    that use the admin secret; a template without the admin secret offers no strategy that
    needs it, and a rotator without strategies gets no rotationStrategy."""
    module = importlib.import_module(f"smrotate.rotators.{rotators(engine)[0]}")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and hasattr(value, "strategies")
    ]
    if not STRATEGIES[engine]:
        assert found == []
        assert "rotationStrategy" not in load(engine)["Parameters"]
        assert ENGINES[engine].lacks >= {"rotationStrategy", "masterSecretArn"}
        return
    (rotator,) = found
    allowed = load(engine)["Parameters"]["rotationStrategy"]["AllowedValues"]
    assert tuple(allowed) == rotator.strategies == STRATEGIES[engine]
    assert set(ADMIN_STRATEGIES) == {n for n, s in ALL_STRATEGIES.items() if s.needs_admin}
    template = transformed(engine)
    for strategy in allowed:
        values = {
            "functionName": FUNCTION_NAME,
            "rotationStrategy": strategy,
            **ENGINES[engine].required,
        }
        uses_admin = ALL_STRATEGIES[strategy].needs_admin
        if not has_admin(engine):
            assert not uses_admin, strategy
            assert "AdminStrategy" not in template["Conditions"]
            continue
        assert Resolved(template, values).condition("AdminStrategy") == uses_admin, strategy


# --------------------------------------------------------------------------- least privilege


def cache_grants(values: dict[str, str]) -> set[tuple[str, str]]:
    """elasticache.yaml's own: the one user's passwords, by the API of the one service, and
    the reads that find the user's caches (docs/elasticache.md#the-iam-policy)."""
    user = values["cacheUser"]
    if values.get("cacheService", "elasticache") == "elasticache":
        arn = PARTITION_REGION_ACCOUNT.format("elasticache")
        return {
            ("elasticache:DescribeUsers", f"{arn}:user:{user}"),
            ("elasticache:ModifyUser", f"{arn}:user:{user}"),
            ("elasticache:DescribeUserGroups", f"{arn}:usergroup:*"),
            ("elasticache:DescribeReplicationGroups", f"{arn}:replicationgroup:*"),
            ("elasticache:DescribeServerlessCaches", f"{arn}:serverlesscache:*"),
        }
    arn = PARTITION_REGION_ACCOUNT.format("memorydb")
    return {
        ("memorydb:DescribeUsers", f"{arn}:user/{user}"),
        ("memorydb:UpdateUser", f"{arn}:user/{user}"),
        ("memorydb:DescribeACLs", f"{arn}:acl/*"),
        ("memorydb:DescribeClusters", f"{arn}:cluster/*"),
    }


def iam_key_grants(values: dict[str, str]) -> set[tuple[str, str]]:
    """iam-keys.yaml's own: the one user's keys (docs/iam-keys.md#the-iam-policy)."""
    user = f"arn:aws:iam::{ACCOUNT}:user{values.get('iamUserPath', '/')}{values['iamUserName']}"
    actions = ("GetUser", "ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")
    return {(f"iam:{action}", user) for action in (*actions, "TagUser")}


OWN_GRANTS = {"elasticache": cache_grants, "iam-keys": iam_key_grants}


def expected_grants(engine: str, values: dict[str, str]) -> set[tuple[str, str]]:
    """(action, resource) pairs the role must hold for these parameter values, and no other."""
    arn = PARTITION_REGION_ACCOUNT.format
    log_group = f"{arn('logs')}:log-group:/aws/lambda/{FUNCTION_NAME}"
    secrets = f"arn:aws:secretsmanager:{REGION}:*:secret:*"
    grants = {  # the template makes the log group itself (with its retention)
        ("logs:CreateLogStream", f"{log_group}:log-stream:*"),
        ("logs:PutLogEvents", f"{log_group}:log-stream:*"),
    }
    if values.get("passwordSource") == "secretsmanager":
        grants.add(("secretsmanager:GetRandomPassword", "*"))
    if values.get("tracing") == "Active":
        grants |= {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    grants |= {
        (f"secretsmanager:{action}", secrets)
        for action in (
            "DescribeSecret",
            "GetSecretValue",
            "PutSecretValue",
            "UpdateSecretVersionStage",
        )
    }
    if values.get("kmsKeyArn"):
        grants |= {("kms:Decrypt", KEY_ARN), ("kms:GenerateDataKey", KEY_ARN)}
    if engine in OWN_GRANTS:
        grants |= OWN_GRANTS[engine](values)
    if values.get("rotationStrategy") in ADMIN_STRATEGIES:
        # DescribeSecret: the function resolves masterarn to compare it with ADMIN_SECRET_ARN.
        grants.add(("secretsmanager:GetSecretValue", MASTER_ARN))
        grants.add(("secretsmanager:DescribeSecret", MASTER_ARN))
        if values.get("masterSecretKmsKeyArn"):
            grants.add(("kms:Decrypt", MASTER_KEY_ARN))
        if values.get("masterSecretManagedByRds") == "true":
            grants |= {
                ("rds:DescribeDBInstances", f"{arn('rds')}:db:*"),
                ("rds:DescribeDBClusters", f"{arn('rds')}:cluster:*"),
            }
    if values.get("vpcSubnetIds"):
        eni = f"{arn('ec2')}:network-interface/*"
        grants |= {
            ("ec2:CreateNetworkInterface", eni),
            ("ec2:CreateNetworkInterface", f"{arn('ec2')}:subnet/*"),
            ("ec2:CreateNetworkInterface", f"{arn('ec2')}:security-group/*"),
            ("ec2:DeleteNetworkInterface", eni),
            ("ec2:AssignPrivateIpAddresses", eni),
            ("ec2:UnassignPrivateIpAddresses", eni),
            ("ec2:DescribeNetworkInterfaces", "*"),  # EC2's Describe actions take no resource
            ("ec2:DescribeSubnets", "*"),
        }
    return grants


def grants(template: Resolved) -> set[tuple[str, str]]:
    found = set()
    for where, statement in template.statements():
        assert statement["Effect"] == "Allow", where
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in _list(statement["Action"]):
            found |= {(action, resource) for resource in _list(statement["Resource"])}
    return found


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_the_role_holds_exactly_what_the_configuration_needs(
    engine: str, strategy: str | None, optional: bool
) -> None:
    values = parameters(engine, strategy, optional=optional)
    template = resolved(engine, strategy, optional)
    assert grants(template) == expected_grants(engine, values)
    assert list(template.of_type("AWS::IAM::Role")) == ["RotationRole"]
    on_star = {action for action, resource in grants(template) if resource == "*"}
    assert on_star <= {
        "secretsmanager:GetRandomPassword",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    }


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_secrets_manager_actions_are_scoped(
    engine: str, strategy: str | None, optional: bool
) -> None:
    """On the rotated secrets only with the AllowRotationLambdaArn condition naming this
    function; on the admin secret only by its ARN; GetRandomPassword alone on *."""
    template = resolved(engine, strategy, optional)
    function = template.resources[ENGINES[engine].function]["Properties"]
    assert function["FunctionName"] == FUNCTION_NAME  # so the condition's ARN is this function's
    for where, statement in template.statements():
        actions = {a for a in _list(statement["Action"]) if a.startswith("secretsmanager:")}
        if not actions:
            continue
        condition = statement.get("Condition", {})
        if actions == {"secretsmanager:GetRandomPassword"}:
            assert statement["Resource"] == "*", where
        elif statement["Resource"] == MASTER_ARN:
            assert strategy in ADMIN_STRATEGIES, where
            assert actions <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
        else:
            assert "secretsmanager:GetRandomPassword" not in actions, where
            assert condition == {
                "StringEquals": {"secretsmanager:resource/AllowRotationLambdaArn": FUNCTION_ARN}
            }, where


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_kms_is_limited_by_the_encryption_context(
    engine: str, strategy: str | None, optional: bool
) -> None:
    template = resolved(engine, strategy, optional)
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    seen = set()
    for where, statement in template.statements():
        if not any(a.startswith("kms:") for a in _list(statement["Action"])):
            continue
        seen.add(statement["Resource"])
        condition = statement["Condition"]
        if statement["Resource"] == MASTER_KEY_ARN:
            assert condition == {
                "StringEquals": {**via, "kms:EncryptionContext:SecretARN": MASTER_ARN}
            }, where
        else:
            assert statement["Resource"] == KEY_ARN
            context = SECRET_ARN if optional else f"arn:aws:secretsmanager:{REGION}:*:secret:*"
            assert condition == {
                "StringEquals": via,
                "StringLike": {"kms:EncryptionContext:SecretARN": context},
            }, where
    expected = set()
    if optional:
        expected.add(KEY_ARN)
        if strategy in ADMIN_STRATEGIES:
            expected.add(MASTER_KEY_ARN)
    assert seen == expected


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_only_secrets_manager_of_this_account_may_invoke(
    engine: str, strategy: str | None, optional: bool
) -> None:
    template = resolved(engine, strategy, optional)
    function = ENGINES[engine].function
    permissions = list(template.of_type("AWS::Lambda::Permission").values())
    assert [p["Properties"] for p in permissions] == [
        {
            "FunctionName": f"<{function}.Arn>",
            "Action": "lambda:InvokeFunction",
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": ACCOUNT,
        }
    ]
    kinds = {r["Type"] for r in template.resources.values()}
    assert kinds <= {
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::IAM::Role",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::Events::Rule",
        "AWS::Logs::LogGroup",
    }


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_the_function_is_configured_from_the_parameters(
    engine: str, strategy: str | None, optional: bool
) -> None:
    template = resolved(engine, strategy, optional)
    spec = ENGINES[engine]
    function = template.resources[spec.function]["Properties"]
    shared = {  # what each template gives the function, unless it lacks the parameter
        "rotationStrategy": ("ROTATION_STRATEGY", strategy),
        "masterSecretArn": (
            "ADMIN_SECRET_ARN",
            MASTER_ARN if strategy in ADMIN_STRATEGIES else "",
        ),
        "excludeCharacters": ("EXCLUDE_CHARACTERS", "/@\"'\\"),
        "passwordSource": ("PASSWORD_SOURCE", "secretsmanager" if optional else "local"),
        "databaseCaBundle": ("DATABASE_CA_BUNDLE", "certs/ca-bundle.pem" if optional else None),
    }
    expected = {
        variable: value
        for parameter, (variable, value) in shared.items()
        if parameter not in spec.lacks and value is not None
    }
    expected |= {
        "POWERTOOLS_SERVICE_NAME": FUNCTION_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": "smrotate",
        "POWERTOOLS_LOG_LEVEL": "DEBUG" if optional else "INFO",
        "POWERTOOLS_TRACE_DISABLED": "false" if optional else "true",
    }
    if optional:
        expected["SECRETS_MANAGER_ENDPOINT"] = f"https://secretsmanager.{REGION}.amazonaws.com"
    for variable, values in spec.environment.items():  # the engine's own
        expected.pop(variable, None)
        if (value := values[optional]) is not None:
            expected[variable] = value
    assert {k: str(v) for k, v in function["Environment"]["Variables"].items()} == expected
    assert function["Handler"] == f"smrotate.rotators.{rotators(engine)[0]}.lambda_handler"
    assert function["Role"] == "<RotationRole.Arn>"
    assert function["Runtime"] == "python3.13"
    sizes = (str(function["MemorySize"]), str(function["Timeout"]))  # parameters are strings
    assert sizes == (("512", "300") if optional else ("256", spec.timeout))
    assert function["TracingConfig"] == {"Mode": "Active" if optional else "PassThrough"}
    (group,) = template.of_type("AWS::Logs::LogGroup").values()
    assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{FUNCTION_NAME}"
    assert str(group["Properties"]["RetentionInDays"]) == ("14" if optional else "90")
    assert "RotationLogGroup" in template.resources[ENGINES[engine].function]["DependsOn"]
    role = template.resources["RotationRole"]["Properties"]
    assert role.get("PermissionsBoundary") == (BOUNDARY_ARN if optional else None)
    assert ("VpcConfig" in function) == optional
    if optional:
        assert function["VpcConfig"] == {
            "SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "SecurityGroupIds": ["sg-0123456789abcdef0"],
        }


@pytest.mark.parametrize("engine", ENGINES)
def test_schedule_and_alarms_only_when_asked(engine: str) -> None:
    assert not resolved(engine, first(engine), False).of_type(
        "AWS::SecretsManager::RotationSchedule"
    )
    template = resolved(engine, first(engine), True)
    function = ENGINES[engine].function
    (schedule,) = template.of_type("AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"] == {
        "SecretId": SECRET_ARN,
        "RotationLambdaARN": f"<{function}.Arn>",
        "RotateImmediatelyOnUpdate": "true",
        "RotationRules": {"ScheduleExpression": "rate(30 days)", "Duration": "3h"},
    }
    assert schedule["DependsOn"] == "RotationInvokePermission"
    (alarm,) = template.of_type("AWS::CloudWatch::Alarm").values()
    assert alarm["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": f"<{function}>"}]
    assert alarm["Properties"]["AlarmActions"] == ["<AlarmTopic>"]
    (rule,) = template.of_type("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["detail"]["eventName"] == [
        "RotationFailed",
        "RotationAbandoned",
        "TestRotationFailed",
    ]
    assert rule["Properties"]["Targets"] == [{"Id": "alarm-topic", "Arn": "<AlarmTopic>"}]
    (topic,) = template.of_type("AWS::SNS::Topic").values()
    assert topic["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": "ops@example.com"}
    ]
    (policy,) = template.of_type("AWS::SNS::TopicPolicy").values()
    publishers = {
        (s["Principal"]["Service"], s["Condition"]["ArnEquals"]["aws:SourceArn"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert publishers == {
        ("events.amazonaws.com", "<RotationFailedRule.Arn>"),
        ("cloudwatch.amazonaws.com", "<FunctionErrorsAlarm.Arn>"),
    }
    quiet = Resolved(
        transformed(engine),
        {**parameters(engine, first(engine), optional=True), "createAlarms": "false"},
    )
    assert not quiet.of_type("AWS::SNS::Topic")
    assert not quiet.of_type("AWS::Events::Rule")


@pytest.mark.parametrize("engine", [e for e in ENGINES if has_admin(e)])
def test_admin_strategies_need_the_admin_secret(engine: str) -> None:
    template = transformed(engine)
    for strategy in STRATEGIES[engine]:
        values = {"functionName": FUNCTION_NAME, "rotationStrategy": strategy}
        assert bool(Resolved(template, values).broken_rules()) == (strategy in ADMIN_STRATEGIES)
    # An admin secret named for single-user is not readable: the strategy does not use it.
    values = {**parameters(engine, "single-user", optional=True), "masterSecretArn": MASTER_ARN}
    assert not [g for g in grants(Resolved(template, values)) if g[1] == MASTER_ARN]
    function = Resolved(template, values).resources[ENGINES[engine].function]["Properties"]
    assert function["Environment"]["Variables"]["ADMIN_SECRET_ARN"] == ""


def test_the_redis_template_defaults_to_the_admin_secret() -> None:
    """In Redis a user that may change its own password may change every user's: a stack left
    at its default uses the admin secret, and is refused without one."""
    spec = load("redis")["Parameters"]["rotationStrategy"]
    assert spec["Default"] == "single-user-via-admin"
    default = Resolved(transformed("redis"), {"functionName": FUNCTION_NAME})
    assert default.broken_rules() == ["single-user-via-admin needs masterSecretArn."]


@pytest.mark.parametrize("engine", [e for e in ENGINES if not has_admin(e)])
def test_a_template_without_the_admin_secret_has_none_of_its_parts(engine: str) -> None:
    """elasticache.yaml and iam-keys.yaml: the function's own role is the admin. No admin
    parameter, rule, condition, permission or variable is left over."""
    template = load(engine)
    assert not {"masterSecretArn", "masterSecretKmsKeyArn", "masterSecretManagedByRds"} & set(
        template["Parameters"]
    )
    assert "Rules" not in template
    assert not {"AdminStrategy", "UsesAdminSecret", "HasAdminKmsKey", "AdminFromRds"} & set(
        template["Conditions"]
    )
    text = (TEMPLATES / ENGINES[engine].template).read_text()
    assert "ADMIN_SECRET_ARN" not in text
    assert "rds:" not in text


def test_the_elasticache_template_matches_the_rotator() -> None:
    """The services it can grant are the rotator's; the wait and the strategies' variables
    are the ones it reads, with its default; the timeout covers setSecret's two waits."""
    from smrotate.rotators.elasticache import DEFAULT_WAIT, WAIT_ENV, control

    template = load("elasticache")
    service = template["Parameters"]["cacheService"]
    assert service["AllowedValues"] == list(control.SERVICES)
    assert set(control.SERVICES) == ENGINES["elasticache"].services
    assert ENGINES["elasticache"].environment[WAIT_ENV][0] == f"{DEFAULT_WAIT:g}"
    wait = float(template["Parameters"]["userWaitSeconds"]["Default"])
    assert wait == DEFAULT_WAIT
    assert float(template["Parameters"]["timeout"]["Default"]) >= 2 * wait + 30
    pattern = template["Parameters"]["cacheUser"]["AllowedPattern"]
    for user in ("app-user", "*", "a"):
        assert re.fullmatch(pattern, user), user
    for user in ("", "app-*", "a,b", "1app", "app user", "user/*"):
        assert not re.fullmatch(pattern, user), user
    assert "Default" not in template["Parameters"]["cacheUser"]  # a stack names its user


def test_the_iam_keys_template_matches_the_rotator() -> None:
    """The variables are the ones the rotator reads, with its defaults; the timeout covers one
    propagation wait; the user and its path cannot widen the role with a wildcard."""
    from smrotate.rotators import iam_keys

    template = load("iam-keys")
    spec = ENGINES["iam-keys"]
    assert {
        iam_keys.USER_VARIABLE,
        iam_keys.DEACTIVATE_VARIABLE,
        iam_keys.PROPAGATION_VARIABLE,
    } == (set(spec.environment))
    assert spec.environment[iam_keys.DEACTIVATE_VARIABLE][0] == "false"  # the rotator's default
    propagation = float(template["Parameters"]["iamPropagationSeconds"]["Default"])
    assert propagation == iam_keys.PROPAGATION_DEFAULT
    assert float(template["Parameters"]["timeout"]["Default"]) >= propagation + 30
    assert "Default" not in template["Parameters"]["iamUserName"]  # a stack names its user
    name = template["Parameters"]["iamUserName"]["AllowedPattern"]
    path = template["Parameters"]["iamUserPath"]["AllowedPattern"]
    assert re.fullmatch(name, "app.user+ci@example.com")
    assert re.fullmatch(path, "/")
    assert re.fullmatch(path, "/app/team-1/")
    for bad in ("", "*", "app*", "app?", "a/b"):
        assert not re.fullmatch(name, bad), bad
    for bad in ("", "app/", "/app", "/*/", "/app//", "/a?/"):
        assert not re.fullmatch(path, bad), bad


@pytest.mark.parametrize("optional", [False, True])
def test_the_iam_keys_role_may_tag_the_user_only_with_the_rotators_tag(optional: bool) -> None:
    """TagUser (a local run marks the key it is creating) is limited to the rotator's own tag
    key; the key actions to the one user, with no condition to get wrong."""
    from smrotate.rotators.iam_keys import CREATING_TAG

    template = resolved("iam-keys", None, optional)
    path = "/app/" if optional else "/"
    user = f"arn:aws:iam::{ACCOUNT}:user{path}app-user"
    found = [
        s for _, s in template.statements() if any(a.startswith("iam:") for a in _list(s["Action"]))
    ]
    tag = [s for s in found if _list(s["Action"]) == ["iam:TagUser"]]
    assert len(found) == 2
    assert len(tag) == 1
    assert tag[0]["Resource"] == user
    assert tag[0]["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": [CREATING_TAG]}}
    (keys,) = [s for s in found if s is not tag[0]]
    assert keys["Resource"] == user
    assert "Condition" not in keys


@pytest.mark.parametrize("engine", ENGINES)
def test_each_package_holds_the_rotators_its_rotator_imports(engine: str) -> None:
    """A rotator that imports another (ElastiCache's subclasses the Redis one) needs it in its
    package: Engine.reuses (and its sam.mk line, checked below) lists exactly those."""
    own, *reused = rotators(engine)
    imported: set[str] = set()
    todo = [own]
    while todo:
        package = ROOT / "rotators" / todo.pop()
        for source in package.rglob("*.py"):
            for name in re.findall(r"smrotate\.rotators\.([a-z_]+)", source.read_text()):
                if name != package.name and name not in imported:
                    imported.add(name)
                    todo.append(name)
    assert imported == set(reused)


@pytest.mark.parametrize(("engine", "strategy", "optional"), VARIANTS)
def test_the_function_knows_the_one_admin_secret_its_role_may_read(
    engine: str, strategy: str | None, optional: bool
) -> None:
    """Defect 13: ADMIN_SECRET_ARN is exactly the admin secret the role may read, or empty."""
    template = resolved(engine, strategy, optional)
    function = template.resources[ENGINES[engine].function]["Properties"]
    readable = {
        resource
        for action, resource in grants(template)
        if action == "secretsmanager:GetSecretValue" and "*" not in resource
    }
    admin = function["Environment"]["Variables"].get("ADMIN_SECRET_ARN", "")
    assert readable == ({admin} if admin else set())
    assert bool(admin) == (strategy in ADMIN_STRATEGIES)


@pytest.mark.parametrize(
    ("engine", "strategy"),
    [(e, s) for e in ENGINES for s in ADMIN_STRATEGIES if s in STRATEGIES[e]],
)
def test_the_deployed_environment_refuses_another_admin_secret(
    sm: Any, make_secret: MakeSecret, engine: str, strategy: str
) -> None:
    """Defect 13, end to end: the function, with the environment the template gives it, refuses
    a secret whose masterarn names another secret it can read (one it rotates, written by the
    attacker) before any change, and rotates with the deployed admin secret."""
    target = MemoryTarget(passwords={"app": "app-password-1", "admin": "admin-password-1"})
    target.passwords["evil"] = "evil-password-1"
    target.admins |= {"admin", "evil"}
    admin_arn = make_secret({"username": "admin", "password": "admin-password-1"}, name="admin/db")
    other_arn = make_secret({"username": "evil", "password": "evil-password-1"}, name="app/other")
    values = {**parameters(engine, strategy, optional=False), "masterSecretArn": admin_arn}
    template = Resolved(transformed(engine), values)
    env = dict(
        template.resources[ENGINES[engine].function]["Properties"]["Environment"]["Variables"]
    )
    assert env["ADMIN_SECRET_ARN"] == admin_arn
    rotator = MemoryRotator(target, env=env)
    for masterarn in (other_arn, "app/other"):  # by ARN and by name
        arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": masterarn})
        result = LocalDriver(rotator.handle).rotate(arn)
        assert isinstance(result.error, SecretFormatError), result.error
        assert "ADMIN_SECRET_ARN" in str(result.error)
        assert target.changes == []
        assert target.passwords["app"] == "app-password-1"
    arn = make_secret({"username": "app", "password": "app-password-1", "masterarn": "admin/db"})
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.ok, result.error
    assert target.changes


# ------------------------------------------------------------------------------ packaging


@pytest.mark.parametrize("engine", ENGINES)
def test_sam_runs_the_makefile_target_in_the_project_root(engine: str) -> None:
    """Each function's build target (templates/sam.mk) packages its engine's lock and rotator,
    for its own machine."""
    function = ENGINES[engine].function
    for logical_id, machine in ((function, "x86_64"), (function + "Arm64", "aarch64")):
        resource = load(engine)["Resources"][logical_id]
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        code = (TEMPLATES / resource["Properties"]["CodeUri"]).resolve()
        assert code == ROOT
        assert (code / "Makefile").is_file()
        run = subprocess.run(
            [
                "make",
                "--dry-run",
                "--no-print-directory",
                f"build-{logical_id}",
                "ARTIFACTS_DIR=/nonexistent",
                "SAM_INSTALLER=uv",  # what make would otherwise ask Pythons first (a second)
                "SAM_BYTECODE_PYTHONS=none",
            ],
            cwd=code,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert f'--require-hashes -r "{ROOT}/locks/{ENGINES[engine].lock}.txt"' in run.stdout
        assert f"manylinux2014_{machine}" in run.stdout
        copied = re.findall(r'cp -R "[^"]*/rotators/([^"/]+)"', run.stdout)
        assert copied == list(rotators(engine))
        drops = re.findall(r'find "[^"]*/botocore/data" [^;\n]*', run.stdout)
        assert len(drops) == 2  # in each Python's install, then in the package
        for drop in drops:
            kept = set(re.findall(r"! -name (\S+)", drop))
            assert kept == {"secretsmanager", "rds", "sts"} | ENGINES[engine].services


def test_make_lock_writes_every_templates_lock() -> None:
    """`make lock` resolves each template's lock again, constrained by the dev lock."""
    run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    loop = re.search(r"for extra in ([^;]+); do .*--extra \$extra -c locks/dev.txt", run.stdout)
    assert loop, run.stdout
    assert {spec.lock for spec in ENGINES.values()} <= set(loop[1].split())
    for spec in ENGINES.values():
        assert (ROOT / "locks" / f"{spec.lock}.txt").is_file()


def test_the_package_carries_every_runtime_the_templates_allow() -> None:
    """sam.mk installs the wheels of each Python version the `runtime` parameter allows."""
    makefile = (TEMPLATES / "sam.mk").read_text()
    versions = re.search(r"^LAMBDA_PYTHON_VERSIONS \?= (.+)$", makefile, re.MULTILINE)
    assert versions
    built = {f"python{v}" for v in versions.group(1).split()}
    for engine in ENGINES:
        runtime = load(engine)["Parameters"]["runtime"]
        assert set(runtime["AllowedValues"]) == built
        assert runtime["Default"] in built


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_architecture_parameter_picks_the_function_built_for_it(engine: str) -> None:
    """One function resource per architecture (each its own build target); the stack creates
    the one `architecture` names, and everything that names the function names that one."""
    base = ENGINES[engine].function
    for architecture, chosen in (("x86_64", base), ("arm64", base + "Arm64")):
        values = parameters(engine, richest(engine), optional=True)
        values["architecture"] = architecture
        if architecture == "arm64":  # x86_64, the default, is a variant linted above
            assert lint(with_defaults(load(engine), values)) == []
        template = Resolved(transformed(engine), values)
        functions = template.of_type("AWS::Lambda::Function")
        assert list(functions) == [chosen]
        assert functions[chosen]["Properties"]["Architectures"] == [architecture]
        (permission,) = template.of_type("AWS::Lambda::Permission").values()
        assert permission["Properties"]["FunctionName"] == f"<{chosen}.Arn>"
        (schedule,) = template.of_type("AWS::SecretsManager::RotationSchedule").values()
        assert schedule["Properties"]["RotationLambdaARN"] == f"<{chosen}.Arn>"
        (alarm,) = template.of_type("AWS::CloudWatch::Alarm").values()
        assert alarm["Properties"]["Dimensions"] == [
            {"Name": "FunctionName", "Value": f"<{chosen}>"}
        ]
    x86, arm = (load(engine)["Resources"][name] for name in (base, base + "Arm64"))
    for function in (x86, arm):
        function["Properties"].pop("Architectures")
    assert x86["Properties"] == arm["Properties"]  # the two differ in nothing else
