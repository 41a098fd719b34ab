"""The SAM templates as data: loaded, transformed by aws-sam-translator, and resolved for one set of
parameter values (conditions decided, intrinsic functions evaluated), so tests can check what
CloudFormation would create: IAM statements, environment variables, the invoke permission.

ENGINES is what the tests know of each template (tests/test_templates.py, test_sam_build.py,
test_cli_template.py): a new template is one entry there and its DIFFERENCES from postgresql.yaml
(a template without strategies, iam-keys.yaml, is tested with the strategy None).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
_NOTHING: Mapping[str, str] = MappingProxyType({})
_NO_VARIABLES: Mapping[str, tuple[str | None, str | None]] = MappingProxyType({})


_ADMIN_PARAMETERS = frozenset(
    {"masterSecretArn", "masterSecretKmsKeyArn", "masterSecretManagedByRds"}
)


class Engine(NamedTuple):
    """What the tests know of one template. A new template is one entry in ENGINES (and its
    differences from postgresql.yaml in DIFFERENCES); the tests then hold it to everything the
    others are held to."""

    template: str  # templates/<template>
    function: str  # logical id of its x86_64 function (the arm64 one adds "Arm64")
    lock: str  # locks/<lock>.txt, the extra of pyproject.toml the package installs
    strategies: tuple[str, ...]  # the rotator's own, in its order; () when it has none
    drivers: frozenset[str]  # distributions that only this engine's lock holds
    native: bool = True  # the package holds native files (see tests/test_sam_build.py)
    lacks: frozenset[str] = frozenset()  # parameters of postgresql.yaml that it has not
    # botocore models its package keeps besides sam.mk's SAM_BOTOCORE_SERVICES (its line there)
    services: frozenset[str] = frozenset()
    rotator: str = ""  # its package in rotators/, when not named as the engine
    reuses: tuple[str, ...] = ()  # other rotators/ packages its rotator imports (packaged too)
    required: Mapping[str, str] = _NOTHING  # values the tests give its own required parameters
    own_parts: Mapping[str, str] = _NOTHING  # its own optional parameters, all switched on
    # its own environment variables: name -> (value when minimal, value with every optional
    # part), None for absent; they replace the shared ones of the same name
    environment: Mapping[str, tuple[str | None, str | None]] = _NO_VARIABLES
    timeout: str = "60"  # the default of its timeout parameter


ENGINES = {
    "postgresql": Engine(
        "postgresql.yaml",
        "PostgreSQLRotationFunction",
        "postgres",
        ("single-user", "single-user-via-admin", "alternating-users", "alternating-pair"),
        frozenset({"psycopg", "psycopg_binary"}),
    ),
    "mysql": Engine(
        "mysql.yaml",
        "MySQLRotationFunction",
        "mysql",
        (
            "single-user",
            "single-user-via-admin",
            "alternating-users",
            "alternating-pair",
            "dual-password",
        ),
        frozenset({"pymysql", "cryptography"}),
    ),
    "redis": Engine(
        "redis.yaml",
        "RedisRotationFunction",
        "redis",
        ("single-user", "single-user-via-admin", "alternating-pair", "dual-password"),
        frozenset({"redis"}),
        native=False,  # redis-py and everything else in the lock are pure Python
        lacks=frozenset({"masterSecretManagedByRds"}),  # no RDS: the admin secret names its host
    ),
    "elasticache": Engine(
        "elasticache.yaml",
        "ElastiCacheRotationFunction",
        "redis",  # redis-py logs in; boto3 changes the password
        ("single-user", "dual-password"),
        frozenset(),  # redis-py is the Redis template's driver too
        native=False,
        lacks=_ADMIN_PARAMETERS,  # the function's role is the admin
        services=frozenset({"elasticache", "memorydb"}),
        reuses=("redis",),  # ElastiCacheUserRotator is a RedisRotator
        required={"cacheUser": "app-user"},
        own_parts={"cacheService": "memorydb", "userWaitSeconds": "60", "excludeCharacters": "<>"},
        environment={
            "ROTATION_USER_WAIT_SECONDS": ("45", "60"),
            "EXCLUDE_CHARACTERS": (None, "<>"),  # else the rotator's own default
        },
        timeout="120",
    ),
    "iam-keys": Engine(
        "iam-keys.yaml",
        "IAMKeysRotationFunction",
        "iam-keys",
        (),  # AWS makes the key: no strategy, no password, no admin
        frozenset(),  # boto3 only
        native=False,
        lacks=_ADMIN_PARAMETERS
        | {"rotationStrategy", "excludeCharacters", "passwordSource", "databaseCaBundle"},
        services=frozenset({"iam"}),
        rotator="iam_keys",
        required={"iamUserName": "app-user"},
        own_parts={
            "iamUserPath": "/app/",
            "iamDeactivatePrevious": "true",
            "iamPropagationSeconds": "45",
        },
        environment={
            "IAM_USER_NAME": ("app-user", "app-user"),
            "IAM_DEACTIVATE_PREVIOUS": ("false", "true"),
            "IAM_PROPAGATION_SECONDS": ("30", "45"),
        },
    ),
}
STRATEGIES = {engine: spec.strategies for engine, spec in ENGINES.items()}
ADMIN_STRATEGIES = ("single-user-via-admin", "alternating-users")  # they need masterSecretArn


def rotators(engine: str) -> tuple[str, ...]:
    """The rotators/ packages of the engine's package: its own rotator first."""
    spec = ENGINES[engine]
    return (spec.rotator or engine, *spec.reuses)


def has_admin(engine: str) -> bool:
    """The template has masterSecretArn (and the admin strategies' parts)."""
    return "masterSecretArn" not in ENGINES[engine].lacks


# Each template is postgresql.yaml with these (postgresql.yaml's text, the engine's text)
# replacements, made in this order: nothing else differs (tests/test_templates.py). SAM has no
# include, so the shared parts are copies, kept the same by that test.
REFERENCE = "postgresql"
_RDS_ADMIN_SECRET = (
    "  masterSecretManagedByRds:\n"
    "    Type: String\n"
    "    Description: true when RDS manages the admin secret (its host is then read from RDS).\n"
    '    Default: "false"\n'
    '    AllowedValues: ["true", "false"]\n'
)
_RDS_CONDITION = (
    "  AdminFromRds: !And\n"
    "    - !Condition UsesAdminSecret\n"
    '    - !Equals [!Ref masterSecretManagedByRds, "true"]\n'
)
_RDS_POLICY = """\
        - !If
          - AdminFromRds
          - PolicyName: admin-secret-rds-endpoint
            PolicyDocument:
              Version: "2012-10-17"
              Statement:
                - Effect: Allow
                  Action: rds:DescribeDBInstances
                  Resource: !Sub RDS:db:*
                - Effect: Allow
                  Action: rds:DescribeDBClusters
                  Resource: !Sub RDS:cluster:*
          - !Ref AWS::NoValue
""".replace("RDS:", "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:")
_TWO_ADMIN_STRATEGIES = (
    "!Or\n"
    "{indent}- !Equals [!Ref rotationStrategy, single-user-via-admin]\n"
    "{indent}- !Equals [!Ref rotationStrategy, alternating-users]\n"
)
_PG_STRATEGIES = """\
      single-user: the user changes its own password. single-user-via-admin: the admin secret
      (masterSecretArn) sets it. alternating-users: the admin secret alternates between the user
      and its clone. alternating-pair: two users created beforehand take turns, each setting its
      own password (no admin).
    Default: single-user
    AllowedValues: [single-user, single-user-via-admin, alternating-users, alternating-pair]
"""
_HEADER = (
    "# Every other template is this document with its engine's names and parts:\n"
    "# tests/sam_templates.py lists each difference, and tests/test_templates.py fails on\n"
    "# any other. A change to a shared part is made to every template.\n"
)
# What the templates without an admin secret (elasticache.yaml, iam-keys.yaml) leave out.
_ADMIN_SECRET = """\
  masterSecretArn:
    Type: String
    Description: ARN of the admin secret, for single-user-via-admin and alternating-users.
    Default: ""
  masterSecretKmsKeyArn:
    Type: String
    Description: ARN of the KMS key of the admin secret; empty for aws/secretsmanager.
    Default: ""
"""
_ADMIN_RULE = (
    "Rules:\n"
    "  AdminStrategiesNeedAnAdminSecret:\n"
    "    RuleCondition: " + _TWO_ADMIN_STRATEGIES.format(indent="      ") + "    Assertions:\n"
    '      - Assert: !Not [!Equals [!Ref masterSecretArn, ""]]\n'
    "        AssertDescription: single-user-via-admin and alternating-users need masterSecretArn.\n"
    "\n"
)
_ADMIN_CONDITIONS = (
    "  AdminStrategy: " + _TWO_ADMIN_STRATEGIES.format(indent="    ") + "  UsesAdminSecret: !And"
    " # the rule above stops an admin strategy without masterSecretArn\n"
    "    - !Condition AdminStrategy\n"
    '    - !Not [!Equals [!Ref masterSecretArn, ""]]\n'
    "  HasAdminKmsKey: !And\n"
    "    - !Condition UsesAdminSecret\n"
    '    - !Not [!Equals [!Ref masterSecretKmsKeyArn, ""]]\n'
)
_ADMIN_ENVIRONMENT = (
    "          # The only admin secret a secret's masterarn may name"
    " (the function refuses another).\n"
    '          ADMIN_SECRET_ARN: !If [UsesAdminSecret, !Ref masterSecretArn, ""]\n'
)
_ADMIN_POLICIES = """\
        - !If
          - UsesAdminSecret
          - PolicyName: admin-secret
            PolicyDocument:
              Version: "2012-10-17"
              Statement:
                - Sid: ReadAndResolveTheAdminSecret # DescribeSecret: compare ARNs, read tags
                  Effect: Allow
                  Action: [secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]
                  Resource: !Ref masterSecretArn
          - !Ref AWS::NoValue
        - !If
          - HasAdminKmsKey
          - PolicyName: admin-secret-key
            PolicyDocument:
              Version: "2012-10-17"
              Statement:
                - Effect: Allow
                  Action: kms:Decrypt
                  Resource: !Ref masterSecretKmsKeyArn
                  Condition:
                    StringEquals:
                      kms:ViaService: !Sub secretsmanager.${AWS::Region}.amazonaws.com
                      kms:EncryptionContext:SecretARN: !Ref masterSecretArn
          - !Ref AWS::NoValue
"""
# What iam-keys.yaml leaves out besides: there is no password and no database.
_PASSWORDS = """\
  excludeCharacters:
    Type: String
    Description: Characters never used in new passwords.
    Default: /@"'\\
  passwordSource:
    Type: String
    Description: >-
      local: passwords are made in the function. secretsmanager: with GetRandomPassword, which
      the role may then call.
    Default: local
    AllowedValues: [local, secretsmanager]
"""
_CA_BUNDLE = """\
  databaseCaBundle:
    Type: String
    Description: >-
      Path of the CA bundle that signs the database's certificate, inside the package (for
      example certs/ca-bundle.pem, see templates/sam.mk); empty for the system bundle.
    Default: ""
"""
_RANDOM_PASSWORDS = """\
              - !If
                - UsesGetRandomPassword
                - Sid: RandomPasswordsHaveNoResource
                  Effect: Allow
                  Action: secretsmanager:GetRandomPassword
                  Resource: "*"
                - !Ref AWS::NoValue
"""
_REGION_ACCOUNT = ":${AWS::Region}:${AWS::AccountId}:"
_CACHE_POLICIES = """\
        - !If
          - OnElastiCache
          - PolicyName: elasticache-user
            PolicyDocument:
              Version: "2012-10-17"
              Statement:
                - Sid: ChangeTheOneUsersPasswords # never its access string (docs/elasticache.md)
                  Effect: Allow
                  Action: [elasticache:DescribeUsers, elasticache:ModifyUser]
                  Resource: !Sub EC:user:${cacheUser}
                # Read-only: the secret's endpoint must be one of the user's caches'.
                - Effect: Allow
                  Action: elasticache:DescribeUserGroups
                  Resource: !Sub EC:usergroup:*
                - Effect: Allow
                  Action: elasticache:DescribeReplicationGroups
                  Resource: !Sub EC:replicationgroup:*
                - Effect: Allow
                  Action: elasticache:DescribeServerlessCaches
                  Resource: !Sub EC:serverlesscache:*
          - !Ref AWS::NoValue
        - !If
          - OnMemoryDB
          - PolicyName: memorydb-user
            PolicyDocument:
              Version: "2012-10-17"
              Statement:
                - Sid: ChangeTheOneUsersPasswords # never its access string (docs/elasticache.md)
                  Effect: Allow
                  Action: [memorydb:DescribeUsers, memorydb:UpdateUser]
                  Resource: !Sub MDB:user/${cacheUser}
                # Read-only: the secret's endpoint must be one of the user's clusters'.
                - Effect: Allow
                  Action: memorydb:DescribeACLs
                  Resource: !Sub MDB:acl/*
                - Effect: Allow
                  Action: memorydb:DescribeClusters
                  Resource: !Sub MDB:cluster/*
          - !Ref AWS::NoValue
""".replace("EC:", "arn:${AWS::Partition}:elasticache" + _REGION_ACCOUNT).replace(
    "MDB:", "arn:${AWS::Partition}:memorydb" + _REGION_ACCOUNT
)
_IAM_USER = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user${iamUserPath}${iamUserName}"
_IAM_POLICY = f"""\
        - PolicyName: iam-user-keys
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: KeysOfTheOneUserThisFunctionRotates
                Effect: Allow
                Action:
                  - iam:GetUser
                  - iam:ListAccessKeys
                  - iam:CreateAccessKey
                  - iam:UpdateAccessKey
                  - iam:DeleteAccessKey
                Resource: !Sub {_IAM_USER}
              - Sid: OnlyTheRotatorsOwnTag # a run that makes its own token tags the user first
                Effect: Allow
                Action: iam:TagUser
                Resource: !Sub {_IAM_USER}
                Condition:
                  ForAllValues:StringEquals:
                    aws:TagKeys: [smrotate:creating-key]
"""
DIFFERENCES: dict[str, list[tuple[str, str]]] = {
    "mysql": [
        ("PostgreSQLRotationFunction", "MySQLRotationFunction"),
        ("smrotate.rotators.postgresql.lambda_handler", "smrotate.rotators.mysql.lambda_handler"),
        (
            "for PostgreSQL and Aurora PostgreSQL secrets,",
            "for MySQL, MariaDB and Aurora MySQL secrets,",
        ),
        (
            _HEADER,
            "# This template is postgresql.yaml with MySQL's names and strategies:\n"
            "# tests/sam_templates.py lists every difference, and tests/test_templates.py "
            "fails on\n"
            "# any other. A change to a shared part is made to every template.\n",
        ),
        ("Rotates PostgreSQL secrets", "Rotates MySQL and MariaDB secrets"),
        # MySQL 8.0.14+ keeps two passwords (the MySQL rotator's add_password)
        (
            "own password (no admin).\n",
            "own password (no admin). dual-password: MySQL 8.0.14+ keeps the old password beside "
            "the new one\n      until the next rotation (no admin).\n",
        ),
        ("alternating-pair]", "alternating-pair, dual-password]"),
    ],
    "redis": [
        ("PostgreSQLRotationFunction", "RedisRotationFunction"),
        ("smrotate.rotators.postgresql.lambda_handler", "smrotate.rotators.redis.lambda_handler"),
        (
            "for PostgreSQL and Aurora PostgreSQL secrets,",
            "for Redis and Valkey ACL users' secrets,",
        ),
        (
            _HEADER,
            "# This template is postgresql.yaml with Redis's names and strategies and without\n"
            "# RDS: tests/sam_templates.py lists every difference, and tests/test_templates.py\n"
            "# fails on any other. A change to a shared part is made to every template.\n",
        ),
        ("Rotates PostgreSQL secrets", "Rotates Redis and Valkey ACL user secrets"),
        # No clones in Redis (alternating-users); dual passwords instead. Without a masterarn
        # the user needs +acl|setuser, an admin's right in Redis: via-admin is the default.
        (
            _PG_STRATEGIES,
            """\
      single-user-via-admin: the admin secret (masterSecretArn) sets the user's password; the
      user needs no right. single-user: the user changes its own password. alternating-pair: two
      users created beforehand take turns, each setting its own password. dual-password: the
      user keeps the old password beside the new one until the next rotation. The last three
      need +acl|setuser, which lets a user change every user (docs/redis.md).
    Default: single-user-via-admin
    AllowedValues: [single-user, single-user-via-admin, alternating-pair, dual-password]
""",
        ),
        (
            "for single-user-via-admin and alternating-users.",
            "for single-user-via-admin.",
        ),
        (_RDS_ADMIN_SECRET, ""),
        (
            "RuleCondition: " + _TWO_ADMIN_STRATEGIES.format(indent="      "),
            "RuleCondition: !Equals [!Ref rotationStrategy, single-user-via-admin]\n",
        ),
        (
            "AssertDescription: single-user-via-admin and alternating-users need masterSecretArn.",
            "AssertDescription: single-user-via-admin needs masterSecretArn.",
        ),
        (
            "AdminStrategy: " + _TWO_ADMIN_STRATEGIES.format(indent="    "),
            "AdminStrategy: !Equals [!Ref rotationStrategy, single-user-via-admin]\n",
        ),
        (_RDS_CONDITION, ""),
        ("# DescribeSecret: compare ARNs, read tags", "# DescribeSecret: compare ARNs"),
        (_RDS_POLICY, ""),
    ],
    "elasticache": [
        ("PostgreSQLRotationFunction", "ElastiCacheRotationFunction"),
        (
            "smrotate.rotators.postgresql.lambda_handler",
            "smrotate.rotators.elasticache.lambda_handler",
        ),
        (
            "for PostgreSQL and Aurora PostgreSQL secrets,",
            "for ElastiCache and MemoryDB users' secrets,",
        ),
        (
            _HEADER,
            "# This template is postgresql.yaml with ElastiCache's names, strategies and API\n"
            "# permissions, without the admin secret and RDS: tests/sam_templates.py lists every\n"
            "# difference, and tests/test_templates.py fails on any other. A change to a shared\n"
            "# part is made to every template.\n",
        ),
        ("Rotates PostgreSQL secrets", "Rotates ElastiCache and MemoryDB user secrets"),
        # The function's role is the admin: it changes the one user's passwords by the API.
        (
            _PG_STRATEGIES,
            """\
      single-user: the new password replaces the old one. dual-password: the user keeps the old
      password beside the new one until the next rotation. The function's role changes them
      through the service's API (docs/elasticache.md): there is no admin secret.
    Default: single-user
    AllowedValues: [single-user, dual-password]
  cacheService:
    Type: String
    Description: >-
      The service that keeps the user: the role may call its API only. The secrets' "service"
      field names the same one (elasticache when it has none).
    Default: elasticache
    AllowedValues: [elasticache, memorydb]
  cacheUser:
    Type: String
    Description: >-
      The user whose passwords the role may change: its ElastiCache UserId (the secrets'
      user_id) or its MemoryDB user name (their username). One function per user; * lets it
      change every user of the service in this account and Region.
    AllowedPattern: "^([*]|[A-Za-z][A-Za-z0-9-]{0,127})$"
""",
        ),
        (
            "    Description: Characters never used in new passwords.\n    Default: /@\"'\\\n",
            """\
    Description: >-
      Characters never used in new passwords; empty for the rotator's default: every
      punctuation character but those AUTH tokens allow (! & # $ ^ < > -).
    Default: ""
""",
        ),
        (
            "    Description: Seconds one rotation step may run.\n    Default: 60\n",
            "    Description: >-\n"
            "      Seconds one rotation step may run. setSecret may wait userWaitSeconds twice\n"
            "      (before and after the change): keep this above twice that plus 30.\n"
            "    Default: 120\n",
        ),
        (
            _ADMIN_SECRET + _RDS_ADMIN_SECRET,
            """\
  userWaitSeconds:
    Type: Number
    Description: >-
      How long setSecret waits for the user to be active again, before and after the change
      (ROTATION_USER_WAIT_SECONDS).
    Default: "45"
    MinValue: 0
    MaxValue: 840
""",
        ),
        (_ADMIN_RULE, ""),
        (
            _ADMIN_CONDITIONS + _RDS_CONDITION,
            "  OnMemoryDB: !Equals [!Ref cacheService, memorydb]\n"
            "  OnElastiCache: !Not [!Condition OnMemoryDB]\n"
            '  HasExcludeCharacters: !Not [!Equals [!Ref excludeCharacters, ""]]\n',
        ),
        (
            _ADMIN_ENVIRONMENT + "          EXCLUDE_CHARACTERS: !Ref excludeCharacters\n",
            "          ROTATION_USER_WAIT_SECONDS: !Ref userWaitSeconds\n"
            "          EXCLUDE_CHARACTERS: !If [HasExcludeCharacters, !Ref excludeCharacters, "
            "!Ref AWS::NoValue]\n",
        ),
        (_ADMIN_POLICIES + _RDS_POLICY, _CACHE_POLICIES),
    ],
    "iam-keys": [
        ("PostgreSQLRotationFunction", "IAMKeysRotationFunction"),
        (
            "smrotate.rotators.postgresql.lambda_handler",
            "smrotate.rotators.iam_keys.lambda_handler",
        ),
        ("for PostgreSQL and Aurora PostgreSQL secrets,", "for an IAM user's access keys,"),
        (
            _HEADER,
            "# This template is postgresql.yaml with the IAM user in place of the strategies,\n"
            "# passwords, admin secret, database and RDS: tests/sam_templates.py lists every\n"
            "# difference, and tests/test_templates.py fails on any other. A change to a shared\n"
            "# part is made to every template.\n",
        ),
        ("Rotates PostgreSQL secrets", "Rotates an IAM user's access keys"),
        # No strategy: the rotator creates the key at IAM (docs/iam-keys.md).
        (
            "  rotationStrategy:\n    Type: String\n    Description: >-\n" + _PG_STRATEGIES,
            """\
  iamUserName:
    Type: String
    Description: >-
      The IAM user whose access keys the function rotates (IAM_USER_NAME); the role may touch
      this user only. One function per user.
    AllowedPattern: "^[A-Za-z0-9+=,.@_-]{1,64}$"
  iamUserPath:
    Type: String
    Description: The user's path, as in its ARN (for example /app/).
    Default: /
    AllowedPattern: "^/([A-Za-z0-9+=,.@_-]+/)*$"
""",
        ),
        (
            "Subnets for the function, to reach a database in a VPC; empty for no VPC.",
            "Subnets for the function (IAM and STS need no VPC); empty for no VPC.",
        ),
        (_PASSWORDS, ""),
        (
            _ADMIN_SECRET + _RDS_ADMIN_SECRET + _CA_BUNDLE,
            """\
  iamDeactivatePrevious:
    Type: String
    Description: >-
      true: finishSecret deactivates the key that left AWSCURRENT. false: it works until the
      next rotation deletes it (IAM_DEACTIVATE_PREVIOUS).
    Default: "false"
    AllowedValues: ["true", "false"]
  iamPropagationSeconds:
    Type: Number
    Description: >-
      How long a step retries while IAM propagates a change (IAM_PROPAGATION_SECONDS); keep
      timeout above this plus 30.
    Default: "30"
    MinValue: 0
    MaxValue: 600
""",
        ),
        (_ADMIN_RULE, ""),
        ("  UsesGetRandomPassword: !Equals [!Ref passwordSource, secretsmanager]\n", ""),
        (
            _ADMIN_CONDITIONS
            + _RDS_CONDITION
            + '  HasCaBundle: !Not [!Equals [!Ref databaseCaBundle, ""]]\n',
            "",
        ),
        (
            "          ROTATION_STRATEGY: !Ref rotationStrategy\n"
            + _ADMIN_ENVIRONMENT
            + "          EXCLUDE_CHARACTERS: !Ref excludeCharacters\n"
            "          PASSWORD_SOURCE: !Ref passwordSource\n",
            "          IAM_USER_NAME: !Ref iamUserName\n"
            "          IAM_DEACTIVATE_PREVIOUS: !Ref iamDeactivatePrevious\n"
            "          IAM_PROPAGATION_SECONDS: !Ref iamPropagationSeconds\n",
        ),
        (
            "          DATABASE_CA_BUNDLE: !If [HasCaBundle, !Ref databaseCaBundle, "
            "!Ref AWS::NoValue]\n",
            "",
        ),
        (_RANDOM_PASSWORDS, ""),
        (_ADMIN_POLICIES + _RDS_POLICY, _IAM_POLICY),
    ],
}
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
    "timeout": "300",  # above every template's default
    "memorySize": "512",
    "permissionsBoundaryArn": BOUNDARY_ARN,
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "smrotate-test-stack",
    "AWS::URLSuffix": "amazonaws.com",
}


def load(engine: str) -> dict[str, Any]:
    """The engine's template as plain JSON data (short-form intrinsics as their long form)."""
    from cfnlint.decode import decode_str  # type: ignore[import-untyped]

    path = TEMPLATES / ENGINES[engine].template
    template, problems = decode_str(path.read_text())
    assert not problems, problems
    return dict(json.loads(json.dumps(template)))


def parameters(engine: str, strategy: str | None, *, optional: bool) -> dict[str, str]:
    """Parameter values for a strategy of an engine's template (None for a template without
    strategies), with every optional part that template has or with none."""
    spec = ENGINES[engine]
    values = {"functionName": FUNCTION_NAME, **spec.required}
    if strategy is not None:
        values["rotationStrategy"] = strategy
    if strategy in ADMIN_STRATEGIES:
        values["masterSecretArn"] = MASTER_ARN
    if optional:
        values.update(OPTIONAL_PARTS)
        values.update(spec.own_parts)
    return {name: v for name, v in values.items() if name not in spec.lacks}


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
    """A template evaluated for parameter values (smrotate.cdk.template's Evaluation, the
    construct's own evaluator): `resources` holds what CloudFormation would create, with every
    intrinsic function replaced by its value (a resource's Ref or GetAtt by the placeholder
    `<Logical>` or `<Logical.Attribute>`). Broken rules are reported, not raised."""

    def __init__(self, template: Mapping[str, Any], values: Mapping[str, str]) -> None:
        from smrotate.cdk.template import Evaluation

        def ref(name: str) -> str:
            assert name in template["Resources"], f"Ref to unknown {name}"
            return f"<{name}>"

        self.template = template
        self._evaluation = Evaluation(
            template,
            values,
            pseudo=PSEUDO,
            ref=ref,
            get_att=lambda logical, attribute: f"<{logical}.{attribute}>",
            opaque=lambda value: False,
            enforce_rules=False,
        )
        self.values = self._evaluation.values
        self.value = self._evaluation.value
        self.condition = self._evaluation.condition
        self.broken_rules = self._evaluation.broken_rules
        self.resources = {
            name: self.value(resource) for name, resource in self._evaluation.resources().items()
        }

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


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
