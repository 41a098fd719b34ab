"""`SmrotateRotation`: a shipped rotator deployed with the AWS CDK (the `cdk` extra; imported
from `smrotate.cdk`).

The construct holds no description of its own of what it deploys: it reads the engine's SAM
template (`smrotate.sam`, the same file `sam deploy` deploys), turns its own properties into
that template's parameter values, decides the template's conditions and evaluates its intrinsic
functions with CDK tokens (smrotate.cdk.template), and creates the resources the stack would
create, with the same properties: the function (a `lambda_.Function` of the package that the
template's make target builds), its role with the template's policies only (CDK's own additions
are dropped: the function gets the role without policy updates), the log group, the invoke
permission, the rotation schedule and, with `alarms=True`, the alarm topic, its policy, the
alarm and the rule. A template property this module does not know is an error, not dropped.

Build the package first, as `sam build` does (docs/deploy.md#cdk), then name its folder as
`code`: `make build-PostgreSQLRotationFunction ARTIFACTS_DIR=$PWD/build/postgresql`
(`SmrotateRotation.build_target(engine, architecture)` names the target).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, CfnResource, Duration, Names, RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from smrotate.cdk.template import Evaluation, engines, load
from smrotate.errors import ConfigurationError

__all__ = ["ENGINES", "SmrotateRotation"]

ENGINES = engines()
_PSEUDO = {
    "AWS::Partition": Aws.PARTITION,
    "AWS::Region": Aws.REGION,
    "AWS::AccountId": Aws.ACCOUNT_ID,
    "AWS::StackName": Aws.STACK_NAME,
    "AWS::URLSuffix": Aws.URL_SUFFIX,
}
_TRACING = {"Active": lambda_.Tracing.ACTIVE, "PassThrough": lambda_.Tracing.PASS_THROUGH}
# What the construct reads of each template resource it builds with a CDK L2 construct; the
# others are created as they are (CfnResource). Anything else in a template is refused.
_RESOURCE_KEYS = {"Type", "Condition", "DependsOn", "Metadata", "Properties"}
_FUNCTION_KEYS = {
    "FunctionName", "Description", "CodeUri", "Handler", "Runtime", "Architectures",
    "MemorySize", "Timeout", "Tracing", "Role", "VpcConfig", "Environment",
}  # fmt: skip
_ROLE_KEYS = {"Description", "PermissionsBoundary", "AssumeRolePolicyDocument", "Policies"}
_LOG_GROUP_KEYS = {"LogGroupName", "RetentionInDays"}
# Boolean properties that the templates give a "true"/"false" parameter (CloudFormation coerces
# the string; the CDK's validation warns of a string literal there).
_BOOLEANS = {("AWS::SecretsManager::RotationSchedule", "RotateImmediatelyOnUpdate")}
_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _flag(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def _seconds(value: Duration | None) -> str | None:
    return None if value is None else f"{value.to_seconds():g}"


def _subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection | None) -> list[str]:
    """The subnets the function runs in (the VPC's private ones by default, as the CDK picks)."""
    s = selection or ec2.SubnetSelection()
    chosen = vpc.select_subnets(
        availability_zones=s.availability_zones,
        one_per_az=s.one_per_az,
        subnet_filters=s.subnet_filters,
        subnet_group_name=s.subnet_group_name,
        subnets=s.subnets,
        subnet_type=s.subnet_type,
    )
    return [str(subnet) for subnet in chosen.subnet_ids]


def _schedule(value: Duration | events.Schedule | str | None) -> str | None:
    """ScheduleExpression: rate(...) or cron(...)."""
    if isinstance(value, Duration):
        value = events.Schedule.rate(value)
    if isinstance(value, events.Schedule):
        return str(value.expression_string)
    return value


class SmrotateRotation(Construct):  # type: ignore[misc,unused-ignore]
    """The rotation function of `engine` (one of ENGINES) for `secret`, as the engine's SAM
    template deploys it; the properties are the template's parameters (docs/deploy.md#cdk).

    `code`: the folder of the package that `build_target(engine, architecture)` builds, or a
    `lambda_.Code`. ConfigurationError for a property the engine's template does not take (an
    admin secret for iam-keys), a value it refuses, or a broken template rule (an admin
    strategy without `admin_secret`). After construction: `function`, `role`, `log_group`, and
    `resources` (the template's other resources, by logical id: RotationInvokePermission,
    RotationSchedule, and with alarms AlarmTopic, AlarmTopicPolicy, FunctionErrorsAlarm,
    RotationFailedRule)."""

    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        engine: str,
        secret: secretsmanager.ISecret,
        code: lambda_.Code | str | os.PathLike[str],
        strategy: str | None = None,
        admin_secret: secretsmanager.ISecret | None = None,
        admin_secret_managed_by_rds: bool | None = None,
        function_name: str | None = None,
        vpc: ec2.IVpc | None = None,
        subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        schedule: Duration | events.Schedule | str | None = None,
        duration: Duration | None = None,
        rotate_immediately: bool | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.X86_64,
        runtime: lambda_.Runtime | None = None,
        timeout: Duration | None = None,
        memory_size: int | None = None,
        tracing: bool | None = None,
        log_level: str | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        permissions_boundary: iam.IManagedPolicy | None = None,
        endpoint: str | None = None,
        exclude_characters: str | None = None,
        password_source: str | None = None,
        database_ca_bundle: str | None = None,
        alarms: bool = False,
        alarm_email: str | None = None,
        cache_user: str | None = None,
        cache_service: str | None = None,
        user_wait: Duration | None = None,
        iam_user_name: str | None = None,
        iam_user_path: str | None = None,
        iam_deactivate_previous: bool | None = None,
        iam_propagation: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        template = load(engine)
        self.engine = engine
        subnet_ids = _subnet_ids(vpc, subnets) if vpc is not None else None
        if vpc is None and (subnets is not None or security_groups):
            raise ConfigurationError("subnets and security_groups need a vpc")
        default_runtime = template["Parameters"]["runtime"]["Default"]
        self._runtime = runtime or lambda_.Runtime(default_runtime, lambda_.RuntimeFamily.PYTHON)
        self._architecture = architecture
        self._code = (
            code if isinstance(code, lambda_.Code) else lambda_.Code.from_asset(os.fspath(code))
        )
        self._vpc = (vpc, subnets, security_groups)
        self._log_retention = log_retention
        # property -> (template parameter, value); None leaves the template's default
        properties: dict[str, tuple[str, Any]] = {
            "function_name": (
                "functionName",
                function_name or Names.unique_resource_name(self, max_length=64, separator="-"),
            ),
            "secret": ("secretArn", secret.secret_arn),
            "runtime": ("runtime", self._runtime.name),
            "architecture": ("architecture", architecture.name),
            "strategy": ("rotationStrategy", strategy),
            "vpc": ("vpcSubnetIds", subnet_ids),
            "security_groups": (
                "vpcSecurityGroupIds",
                [g.security_group_id for g in security_groups] if security_groups else None,
            ),
            "secret.encryption_key": (
                "kmsKeyArn",
                secret.encryption_key.key_arn if secret.encryption_key else None,
            ),
            "admin_secret": ("masterSecretArn", admin_secret.secret_arn if admin_secret else None),
            "admin_secret.encryption_key": (
                "masterSecretKmsKeyArn",
                admin_secret.encryption_key.key_arn
                if admin_secret and admin_secret.encryption_key
                else None,
            ),
            "admin_secret_managed_by_rds": (
                "masterSecretManagedByRds",
                _flag(admin_secret_managed_by_rds),
            ),
            "schedule": ("scheduleExpression", _schedule(schedule)),
            "duration": (
                "scheduleDuration",
                None if duration is None else f"{duration.to_hours():g}h",
            ),
            "rotate_immediately": ("rotateImmediately", _flag(rotate_immediately)),
            "timeout": ("timeout", _seconds(timeout)),
            "memory_size": ("memorySize", memory_size),
            "tracing": ("tracing", None if tracing is None else ("PassThrough", "Active")[tracing]),
            "log_level": ("logLevel", log_level),
            "permissions_boundary": (
                "permissionsBoundaryArn",
                permissions_boundary.managed_policy_arn if permissions_boundary else None,
            ),
            "endpoint": ("endpoint", endpoint),
            "exclude_characters": ("excludeCharacters", exclude_characters),
            "password_source": ("passwordSource", password_source),
            "database_ca_bundle": ("databaseCaBundle", database_ca_bundle),
            "alarms": ("createAlarms", _flag(alarms)),
            "alarm_email": ("alarmEmail", alarm_email),
            "cache_user": ("cacheUser", cache_user),
            "cache_service": ("cacheService", cache_service),
            "user_wait": ("userWaitSeconds", _seconds(user_wait)),
            "iam_user_name": ("iamUserName", iam_user_name),
            "iam_user_path": ("iamUserPath", iam_user_path),
            "iam_deactivate_previous": ("iamDeactivatePrevious", _flag(iam_deactivate_previous)),
            "iam_propagation": ("iamPropagationSeconds", _seconds(iam_propagation)),
        }
        values: dict[str, Any] = {}
        for prop, (parameter, value) in properties.items():
            if value is None:
                continue
            if parameter not in template["Parameters"]:
                raise ConfigurationError(f"the {engine} rotator takes no {prop}")
            values[parameter] = value
        required = {p for p, spec in template["Parameters"].items() if "Default" not in spec}
        for prop, (parameter, _) in properties.items():
            if parameter in required - set(values):
                raise ConfigurationError(f"the {engine} rotator needs {prop}")
        self._built: dict[str, IConstruct] = {}
        self._evaluation = Evaluation(
            template,
            values,
            pseudo=_PSEUDO,
            ref=lambda logical: self._attribute(logical, None),
            get_att=self._attribute,
            opaque=Token.is_unresolved,
        )
        self.strategy: str | None = self._evaluation.values.get("rotationStrategy")
        self.resources: dict[str, CfnResource] = {}
        for logical in self._evaluation.resources():
            self._build(logical)

    @staticmethod
    def build_target(
        engine: str, architecture: lambda_.Architecture = lambda_.Architecture.X86_64
    ) -> str:
        """The make target that builds the engine's package for `architecture`: run
        `make TARGET ARTIFACTS_DIR=FOLDER` in a checkout (or in a `smrotate template` project)
        and give FOLDER as `code`."""
        for logical, resource in load(engine)["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function" and resource["Properties"][
                "Architectures"
            ] == [architecture.name]:
                return f"build-{logical}"
        raise ConfigurationError(f"the {engine} template has no {architecture.name} function")

    # ------------------------------------------------------------------------- resources

    def _attribute(self, logical: str, attribute: str | None) -> str:
        """A resource's Ref (attribute None) or GetAtt, building it first if need be."""
        built = self._build(logical)
        if isinstance(built, CfnResource):
            ref = built.ref if attribute is None else Token.as_string(built.get_att(attribute))
            return str(ref)
        names: dict[str | None, str]
        if isinstance(built, lambda_.Function):
            names = {None: built.function_name, "Arn": built.function_arn}
        elif isinstance(built, iam.Role):
            names = {None: built.role_name, "Arn": built.role_arn}
        else:
            assert isinstance(built, logs.LogGroup)
            names = {None: built.log_group_name, "Arn": built.log_group_arn}
        if attribute not in names:
            raise ConfigurationError(f"{logical} has no attribute {attribute} here")
        return names[attribute]

    def _build(self, logical: str) -> IConstruct:
        if logical in self._built:
            return self._built[logical]
        resource = self._evaluation.resources().get(logical)
        if resource is None:
            raise ConfigurationError(f"{logical} is not created with these properties")
        unknown = set(resource) - _RESOURCE_KEYS
        if unknown:
            raise ConfigurationError(f"{logical}: smrotate.cdk does not handle {unknown}")
        properties: dict[str, Any] = self._evaluation.value(resource.get("Properties", {}))
        kind = resource["Type"]
        built: IConstruct
        if kind == "AWS::Serverless::Function":
            built = self._function(logical, properties)
            self.function = built
        elif kind == "AWS::IAM::Role":
            built = self._role(logical, properties)
            self.role = built
        elif kind == "AWS::Logs::LogGroup":
            built = self._log_group(logical, properties)
            self.log_group = built
        else:
            for name, value in properties.items():
                if (kind, name) in _BOOLEANS and value in ("true", "false"):
                    properties[name] = value == "true"
            built = CfnResource(self, logical, type=kind, properties=properties)
            self.resources[logical] = built
        self._built[logical] = built
        depends = resource.get("DependsOn", [])
        for other in [depends] if isinstance(depends, str) else depends:
            built.node.add_dependency(self._build(other))
        return built

    def _function(self, logical: str, properties: dict[str, Any]) -> lambda_.Function:
        _known(logical, properties, _FUNCTION_KEYS)
        assert properties["Runtime"] == self._runtime.name
        assert properties["Architectures"] == [self._architecture.name]
        vpc, subnets, security_groups = self._vpc
        assert ("VpcConfig" in properties) == (vpc is not None)
        assert properties["Role"] == self.role.role_arn  # built when the property was evaluated
        return lambda_.Function(
            self,
            logical,
            code=self._code,
            handler=properties["Handler"],
            runtime=self._runtime,
            architecture=self._architecture,
            function_name=properties["FunctionName"],
            description=properties["Description"],
            memory_size=int(properties["MemorySize"]),
            timeout=Duration.seconds(int(properties["Timeout"])),
            tracing=_TRACING[properties["Tracing"]],
            # The template's statements only: what the CDK would add (X-Ray's, for one) is
            # in them when the template grants it, and nothing else is. Imported, so that the
            # function depends on the role by its GetAtt only (no DependsOn, cfn-lint W3005).
            role=iam.Role.from_role_arn(self, "FunctionRole", self.role.role_arn, mutable=False),
            environment=properties["Environment"]["Variables"],
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=security_groups,
        )

    def _role(self, logical: str, properties: dict[str, Any]) -> iam.Role:
        _known(logical, properties, _ROLE_KEYS)
        if properties["AssumeRolePolicyDocument"] != _LAMBDA_TRUST:
            raise ConfigurationError(f"{logical}: smrotate.cdk expects Lambda's trust policy")
        boundary = properties.get("PermissionsBoundary")
        return iam.Role(
            self,
            logical,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=properties["Description"],
            permissions_boundary=(
                iam.ManagedPolicy.from_managed_policy_arn(self, "PermissionsBoundary", boundary)
                if boundary
                else None
            ),
            inline_policies={
                policy["PolicyName"]: iam.PolicyDocument.from_json(policy["PolicyDocument"])
                for policy in properties["Policies"]
            },
        )

    def _log_group(self, logical: str, properties: dict[str, Any]) -> logs.LogGroup:
        _known(logical, properties, _LOG_GROUP_KEYS)
        group = logs.LogGroup(
            self,
            logical,
            log_group_name=properties["LogGroupName"],
            retention=self._log_retention,
            removal_policy=RemovalPolicy.DESTROY,  # as the SAM stack's (CloudFormation's default)
        )
        days = group.node.default_child.retention_in_days  # type: ignore[union-attr,unused-ignore]
        if days is None:
            raise ConfigurationError("log_retention: the log group keeps its events for a time")
        self._evaluation.check("logRetentionInDays", f"{days:g}")
        return group


def _known(logical: str, properties: dict[str, Any], known: set[str]) -> None:
    unknown = set(properties) - known
    if unknown:
        raise ConfigurationError(f"{logical}: smrotate.cdk does not handle {sorted(unknown)}")
