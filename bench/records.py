"""CloudTrail records with the shapes, mix and sizes of a real multi-account trail.

Background traffic is what accounts produce all day: services assuming their roles, KMS
decrypts on behalf of other services, describe calls, instance roles polling SSM, AWS
Config reading buckets, SSO console logins, service events. Root activity, tamper events
by other principals and root look-alikes are made on request. Every value comes from
the one `random.Random` the factory is given, so a seed fixes every byte.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Record = dict[str, Any]

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1", "ap-southeast-2", "us-east-2")
REGION_WEIGHTS = (40, 18, 16, 12, 8, 6)
# Root events of each kind, by weight; the global ones only land in us-east-1.
ROOT_KINDS_ANY_REGION = {"api-read": 40, "api-write": 10, "access-key-api": 6}
ROOT_KINDS_US_EAST_1 = {
    "console-login-mfa": 12,
    "console-login-no-mfa": 3,
    "console-login-failed": 5,
    "iam-read": 10,
    "create-access-key": 1,
    "deactivate-mfa": 1,
    "stop-logging": 1,
}

_UPPER_ALNUM = string.ascii_uppercase + string.digits
_BASE64 = string.ascii_letters + string.digits + "+/"
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/135.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:136.0) Gecko/20100101 Firefox/136.0",
)
_SDKS = (
    "aws-cli/2.22.35 md/awscrt#0.23.8 ua/2.1 os/linux#6.8.0-1024-aws md/arch#x86_64 "
    "lang/python#3.12.9 md/pyimpl#CPython exe-version/2.22.35 cfg/retry-mode#standard "
    "md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#ec2.describe-instances",
    "Boto3/1.37.11 md/Botocore#1.37.11 ua/2.1 os/linux#5.10.234-225.895.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.9 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.37.11",
    "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.23.6 md/GOOS#linux md/GOARCH#amd64 "
    "api/ec2#1.207.0 m/E,g",
    "aws-sdk-java/2.31.6 Linux/5.10.234-225.895.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/"
    "21.0.6+7-LTS Java/21.0.6 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE "
    "io/sync http/Apache cfg/retry-mode/standard",
    "Terraform/1.11.2 (+https://www.terraform.io) terraform-provider-aws/5.91.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.36.3 "
    "ua/2.1 os/linux lang/go#1.23.7 md/GOOS#linux md/GOARCH#amd64 api/sts#1.33.17",
)
_SSM_AGENT = "Amazon SSM Agent/3.3.1802.0 (linux; amd64) aws-sdk-go/1.55.6 (go1.23.5; linux; amd64)"
_TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
)
_PEOPLE = ("alice.martin", "bogdan.ionescu", "chen.wei", "dana.okafor", "deploy-pipeline")
# (role name, service that assumes it or None for people and pipelines)
_ROLES = (
    ("AWSReservedSSO_AdministratorAccess_4f1c2a9d8e7b6a50", None),
    ("OrganizationAccountAccessRole", None),
    ("AWSServiceRoleForConfig", "config.amazonaws.com"),
    ("orders-processor-lambda-role", "lambda.amazonaws.com"),
    ("invoice-renderer-lambda-role", "lambda.amazonaws.com"),
    ("ecsTaskExecutionRole", "ecs-tasks.amazonaws.com"),
    ("payments-api-task-role", "ecs-tasks.amazonaws.com"),
    ("eks-node-group-NodeInstanceRole-7QX2M4KD9PLA", "ec2.amazonaws.com"),
    ("AmazonSSMRoleForInstancesQuickSetup", "ec2.amazonaws.com"),
    ("GitHubActionsDeployRole", None),
    ("DatadogIntegrationRole", None),
    ("AWSReservedSSO_ReadOnlyAccess_9b3e71c0d2a4f865", None),
)
_ADMIN, _CONFIG, _SSM_ROLE, _READ_ONLY = 0, 2, 8, 11
_WORKLOADS = slice(3, 9)  # the roles that services assume for applications
_AUTOMATION = slice(6, 11)  # the roles that call describe APIs all day


@dataclass(slots=True)
class Role:
    name: str
    role_id: str
    trusted_service: str | None
    sessions: list[tuple[str, str]]  # (session name, access key id)


@dataclass(slots=True)
class Account:
    account_id: str
    activity: float  # relative share of the trail's files
    roles: list[Role]
    instances: list[str]
    buckets: list[str]
    kms_keys: list[str]
    source_ips: list[str]


@dataclass(frozen=True, slots=True)
class Where:
    """The account, region and time of the record being built."""

    account: Account
    region: str
    moment: datetime

    @property
    def account_id(self) -> str:
        return self.account.account_id


class RecordFactory:
    """Builds CloudTrail records; every choice comes from `rng`."""

    def __init__(self, rng: random.Random, accounts: int = 12) -> None:
        self.rng = rng
        self.accounts = [self._account() for _ in range(accounts)]
        regional: dict[Callable[[Where], Record], int] = {
            self._service_assume_role: 16,
            self._kms_call: 12,
            self._ec2_describe: 14,
            self._ssm_instance_poll: 11,
            self._logs_call: 8,
            self._config_bucket_read: 9,
            self._ec2_write: 3,
            self._service_read: 6,
            self._sso_console_login: 1,
            self._service_event: 1,
        }
        # IAM is a global service: CloudTrail logs its calls in us-east-1.
        in_us_east_1 = regional | {self._iam_read: 5}
        self._regional = (list(regional), list(regional.values()))
        self._us_east_1 = (list(in_us_east_1), list(in_us_east_1.values()))

    def background(self, where: Where) -> Record:
        """An ordinary record: never root activity, never tamper."""
        builders, weights = self._us_east_1 if where.region == "us-east-1" else self._regional
        return self.rng.choices(builders, weights)[0](where)

    def root(self, where: Where) -> tuple[str, Record]:
        """A root event that fits the region, and the name of its kind."""
        kinds = dict(ROOT_KINDS_ANY_REGION)
        if where.region == "us-east-1":
            kinds |= ROOT_KINDS_US_EAST_1
        kind = self.rng.choices(list(kinds), list(kinds.values()))[0]
        return kind, self._root_event(kind, where)

    def tamper_by_other(self, where: Where) -> Record:
        """A CloudTrail change that is tamper whoever makes it, here by an admin's session."""
        name = self.rng.choice(("UpdateTrail", "PutEventSelectors", "StopLogging"))
        trail_arn = f"arn:aws:cloudtrail:{where.region}:{where.account_id}:trail/org-audit-trail"
        request: Record = {"name": trail_arn}
        response: Record | None = None
        if name == "UpdateTrail":
            request["s3BucketName"] = f"audit-logs-{where.account_id}"
            response = {"name": "org-audit-trail", "trailARN": trail_arn}
        elif name == "PutEventSelectors":
            selector = {"readWriteType": "WriteOnly", "includeManagementEvents": True}
            request["eventSelectors"] = [selector | {"dataResources": []}]
            response = {"trailARN": trail_arn, "eventSelectors": request["eventSelectors"]}
        admin = where.account.roles[_ADMIN]
        return self._api_call(
            where,
            self._role_identity(where, admin, mfa=True),
            "cloudtrail.amazonaws.com",
            name,
            read_only=False,
            request=request,
            response=response,
            agent=self.rng.choice(_BROWSERS),
            console=True,
            resources=[_resource(where, "AWS::CloudTrail::Trail", trail_arn)],
        )

    def lookalike(self, where: Where) -> Record:
        """A record whose strings say root but whose principal is not the root user."""
        account_id = where.account_id
        variant = self.rng.randrange(4)
        if variant == 0:
            identity: Record = {
                "type": "IAMUser",
                "principalId": self._id("AIDA", 17),
                "arn": f"arn:aws:iam::{account_id}:user/root",
                "accountId": account_id,
                "accessKeyId": self._id("AKIA", 16),
                "userName": "root",
            }
        elif variant == 1:
            role = self.rng.choice(where.account.roles)
            identity = self._role_identity(where, role, session=("root", self._id("ASIA", 16)))
        elif variant == 2:
            other = self.rng.choice(self.accounts).account_id
            identity = {
                "type": "AWSAccount",
                "principalId": self._id("AIDA", 17),
                "accountId": other,
                "arn": f"arn:aws:iam::{other}:root",
            }
        else:
            identity = {
                "type": "FederatedUser",
                "principalId": f"{account_id}:root",
                "arn": f"arn:aws:sts::{account_id}:federated-user/root",
                "accountId": account_id,
                "accessKeyId": self._id("ASIA", 16),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "IAMUser",
                        "principalId": self._id("AIDA", 17),
                        "arn": f"arn:aws:iam::{account_id}:user/ci-deployer",
                        "accountId": account_id,
                        "userName": "ci-deployer",
                    },
                    "attributes": self._session_attributes(where.moment, mfa=False),
                },
            }
        bucket = self.rng.choice(where.account.buckets)
        return self._api_call(
            where,
            identity,
            "s3.amazonaws.com",
            "GetBucketLocation",
            read_only=True,
            request={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "location": ""},
            agent=self.rng.choice(_SDKS),
            resources=[_resource(where, "AWS::S3::Bucket", f"arn:aws:s3:::{bucket}")],
        )

    # Accounts and identities ---------------------------------------------------------------

    def _account(self) -> Account:
        account_id = str(self.rng.randrange(10**11, 10**12))
        roles = []
        for name, service in _ROLES:
            sessions = [
                (self._session_name(name, service), self._id("ASIA", 16))
                for _ in range(self.rng.randint(2, 6))
            ]
            roles.append(Role(name, self._id("AROA", 17), service, sessions))
        buckets = ("app-assets-prod", "cloudtrail-archive", "data-lake-raw", "terraform-state")
        return Account(
            account_id=account_id,
            activity=self.rng.choice((0.2, 0.5, 1.0, 1.0, 2.0, 4.0)),
            roles=roles,
            instances=["i-" + self._hex(17) for _ in range(self.rng.randint(5, 40))],
            buckets=[f"{bucket}-{account_id}" for bucket in buckets],
            kms_keys=[self._uuid() for _ in range(4)],
            source_ips=[self._public_ip() for _ in range(8)],
        )

    def _session_name(self, role_name: str, service: str | None) -> str:
        if service == "ec2.amazonaws.com":
            return "i-" + self._hex(17)
        if service == "ecs-tasks.amazonaws.com":
            return self._hex(32)
        if service == "lambda.amazonaws.com":
            return role_name.removesuffix("-lambda-role")
        if service == "config.amazonaws.com":
            return "AWSConfig-Describe"
        return self.rng.choice(_PEOPLE)

    def _role_identity(
        self,
        where: Where,
        role: Role,
        *,
        session: tuple[str, str] | None = None,
        mfa: bool = False,
        invoked_by: str | None = None,
    ) -> Record:
        session_name, key_id = session or self.rng.choice(role.sessions)
        context: Record = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role.role_id,
                "arn": f"arn:aws:iam::{where.account_id}:role/{role.name}",
                "accountId": where.account_id,
                "userName": role.name,
            },
            "attributes": self._session_attributes(where.moment, mfa=mfa),
        }
        if role.trusted_service == "ec2.amazonaws.com":
            context["ec2RoleDelivery"] = "2.0"
        identity: Record = {
            "type": "AssumedRole",
            "principalId": f"{role.role_id}:{session_name}",
            "arn": f"arn:aws:sts::{where.account_id}:assumed-role/{role.name}/{session_name}",
            "accountId": where.account_id,
            "accessKeyId": key_id,
            "sessionContext": context,
        }
        if invoked_by is not None:
            identity["invokedBy"] = invoked_by
        return identity

    def _root_identity(self, where: Where, *, console: bool) -> Record:
        identity: Record = {
            "type": "Root",
            "principalId": where.account_id,
            "arn": f"arn:aws:iam::{where.account_id}:root",
            "accountId": where.account_id,
            "accessKeyId": self._id("ASIA" if console else "AKIA", 16),
        }
        if console:
            identity["sessionContext"] = {
                "attributes": self._session_attributes(where.moment, mfa=True)
            }
        return identity

    def _session_attributes(self, moment: datetime, *, mfa: bool) -> Record:
        created = moment - timedelta(minutes=self.rng.randint(1, 55))
        return {"creationDate": iso(created), "mfaAuthenticated": "true" if mfa else "false"}

    # Background traffic ----------------------------------------------------------------------

    def _service_assume_role(self, where: Where) -> Record:
        role = self.rng.choice([role for role in where.account.roles if role.trusted_service])
        service = role.trusted_service or "lambda.amazonaws.com"
        session_name, key_id = self.rng.choice(role.sessions)
        role_arn = f"arn:aws:iam::{where.account_id}:role/{role.name}"
        expiration = where.moment + timedelta(hours=self.rng.choice((1, 6, 12)))
        record = self._api_call(
            where,
            {"type": "AWSService", "invokedBy": service},
            "sts.amazonaws.com",
            "AssumeRole",
            read_only=True,
            request={"roleArn": role_arn, "roleSessionName": session_name},
            response={
                "credentials": {
                    "accessKeyId": key_id,
                    "sessionToken": self._session_token(),
                    "expiration": expiration.strftime("%b %d, %Y, %I:%M:%S %p"),
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{role.role_id}:{session_name}",
                    "arn": f"arn:aws:sts::{where.account_id}:assumed-role/{role.name}/"
                    f"{session_name}",
                },
            },
            agent=service,
            source_ip=service,
            tls_host=None,
            resources=[_resource(where, "AWS::IAM::Role", role_arn)],
        )
        record["sharedEventID"] = self._uuid()
        return record

    def _kms_call(self, where: Where) -> Record:
        key_id = self.rng.choice(where.account.kms_keys)
        key_arn = f"arn:aws:kms:{where.region}:{where.account_id}:key/{key_id}"
        name = self.rng.choice(("Decrypt", "Decrypt", "GenerateDataKey", "Encrypt"))
        via = self.rng.choice(("secretsmanager", "s3", "dynamodb", "ssm"))
        resource = f"arn:aws:{via}:{where.region}:{where.account_id}:{via}-{self._hex(12)}"
        request: Record = {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {f"aws:{via}:arn": resource},
        }
        if name != "Decrypt":
            request |= {"keyId": key_arn, "keySpec": "AES_256"}
        role = self.rng.choice(where.account.roles[_WORKLOADS])
        return self._api_call(
            where,
            self._role_identity(where, role, invoked_by=f"{via}.amazonaws.com"),
            "kms.amazonaws.com",
            name,
            read_only=name == "Decrypt",
            request=request,
            agent=f"{via}.amazonaws.com",
            source_ip=f"{via}.amazonaws.com",
            tls_host=None,
            resources=[_resource(where, "AWS::KMS::Key", key_arn)],
        )

    def _ec2_describe(self, where: Where) -> Record:
        instances = where.account.instances
        name = self.rng.choice(
            ("DescribeInstances", "DescribeVolumes", "DescribeSecurityGroups", "DescribeTags")
        )
        request: Record
        if name == "DescribeInstances":
            chosen = self.rng.sample(instances, min(3, len(instances)))
            request = {
                "instancesSet": {"items": [{"instanceId": instance} for instance in chosen]},
                "filterSet": {},
                "includeAllInstances": False,
            }
        elif name == "DescribeVolumes":
            attached = self.rng.choice(instances)
            request = {"volumeSet": {}, "filterSet": _filters("attachment.instance-id", attached)}
        elif name == "DescribeSecurityGroups":
            group = {"groupId": "sg-" + self._hex(17)}
            request = {"securityGroupIdSet": {"items": [group]}, "filterSet": {}}
        else:
            request = {"filterSet": _filters("resource-id", self.rng.choice(instances))}
        role = self.rng.choice(where.account.roles[_AUTOMATION])
        return self._api_call(
            where,
            self._role_identity(where, role),
            "ec2.amazonaws.com",
            name,
            read_only=True,
            request=request,
            agent=self.rng.choice(_SDKS),
        )

    def _ssm_instance_poll(self, where: Where) -> Record:
        instance = self.rng.choice(where.account.instances)
        name = self.rng.choice(("UpdateInstanceInformation", "ListInstanceAssociations"))
        request: Record = {"instanceId": instance}
        if name == "UpdateInstanceInformation":
            zone = where.region + self.rng.choice("abc")
            address = f"10.0.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
            request |= {
                "agentVersion": "3.3.1802.0",
                "agentStatus": "Active",
                "platformType": "Linux",
                "platformName": "Amazon Linux",
                "platformVersion": "2023",
                "iPAddress": address,
                "computerName": f"ip-{address.replace('.', '-')}.{where.region}.compute.internal",
                "agentName": "amazon-ssm-agent",
                "availabilityZone": zone,
            }
        else:
            request["maxResults"] = 50
        role = where.account.roles[_SSM_ROLE]
        return self._api_call(
            where,
            self._role_identity(where, role, session=(instance, self._id("ASIA", 16))),
            "ssm.amazonaws.com",
            name,
            read_only=name != "UpdateInstanceInformation",
            request=request,
            agent=_SSM_AGENT,
        )

    def _logs_call(self, where: Where) -> Record:
        role = self.rng.choice(where.account.roles[_WORKLOADS])
        name = self.rng.choice(("CreateLogStream", "DescribeLogGroups", "DescribeLogStreams"))
        request: Record = {"logGroupName": f"/aws/lambda/{role.name.removesuffix('-role')}"}
        if name == "CreateLogStream":
            request["logStreamName"] = f"{where.moment:%Y/%m/%d}/[$LATEST]{self._hex(32)}"
        else:
            request |= {"limit": 50, "orderBy": "LastEventTime", "descending": True}
        return self._api_call(
            where,
            self._role_identity(where, role),
            "logs.amazonaws.com",
            name,
            read_only=name != "CreateLogStream",
            request=request,
            agent=self.rng.choice(_SDKS),
        )

    def _config_bucket_read(self, where: Where) -> Record:
        bucket = self.rng.choice(where.account.buckets)
        name, subresource = self.rng.choice(
            (
                ("GetBucketAcl", "acl"),
                ("GetBucketPolicy", "policy"),
                ("GetBucketVersioning", "versioning"),
                ("GetBucketEncryption", "encryption"),
            )
        )
        role = where.account.roles[_CONFIG]
        record = self._api_call(
            where,
            self._role_identity(where, role, invoked_by="config.amazonaws.com"),
            "s3.amazonaws.com",
            name,
            read_only=True,
            request={
                "bucketName": bucket,
                "Host": f"{bucket}.s3.{where.region}.amazonaws.com",
                subresource: "",
            },
            agent="config.amazonaws.com",
            source_ip="config.amazonaws.com",
            tls_host=None,
            resources=[_resource(where, "AWS::S3::Bucket", f"arn:aws:s3:::{bucket}")],
        )
        record["additionalEventData"] = {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": self._id("", 76),
            "bytesTransferredOut": self.rng.randint(200, 900),
        }
        return record

    def _iam_read(self, where: Where) -> Record:
        target = self.rng.choice(where.account.roles).name
        name = self.rng.choice(("GetRole", "ListAttachedRolePolicies", "ListRolePolicies"))
        caller = where.account.roles[self.rng.choice((9, 10, 11))]
        return self._api_call(
            where,
            self._role_identity(where, caller),
            "iam.amazonaws.com",
            name,
            read_only=True,
            request={"roleName": target},
            agent=self.rng.choice(_SDKS),
            tls_host="iam.amazonaws.com",
        )

    def _ec2_write(self, where: Where) -> Record:
        instance = self.rng.choice(where.account.instances)
        name = self.rng.choice(("CreateTags", "CreateNetworkInterface", "AttachVolume"))
        response: Record = {"requestId": self._uuid(), "_return": True}
        if name == "CreateTags":
            tags = [
                {"key": "karpenter.sh/nodeclaim", "value": f"default-{self._hex(5)}"},
                {"key": "Name", "value": f"eks-node-{self._hex(8)}"},
            ]
            request: Record = {
                "resourcesSet": {"items": [{"resourceId": instance}]},
                "tagSet": {"items": tags},
            }
        elif name == "CreateNetworkInterface":
            subnet = "subnet-" + self._hex(17)
            request = {
                "subnetId": subnet,
                "description": "AWS Lambda VPC ENI-orders-processor",
                "groupSet": {"items": [{"groupId": "sg-" + self._hex(17)}]},
            }
            response["networkInterface"] = {
                "networkInterfaceId": "eni-" + self._hex(17),
                "subnetId": subnet,
                "vpcId": "vpc-" + self._hex(17),
                "availabilityZone": where.region + "a",
                "description": request["description"],
                "ownerId": where.account_id,
                "requesterManaged": False,
                "status": "pending",
                "macAddress": ":".join(self._hex(2) for _ in range(6)),
                "privateIpAddress": f"10.0.{self.rng.randrange(256)}.{self.rng.randrange(256)}",
                "sourceDestCheck": True,
                "interfaceType": "lambda",
            }
        else:
            volume = "vol-" + self._hex(17)
            request = {"volumeId": volume, "instanceId": instance, "device": "/dev/xvdf"}
            response |= request | {
                "status": "attaching",
                "attachTime": int(where.moment.timestamp() * 1000),
            }
        caller = where.account.roles[self.rng.choice((3, 7, 9))]
        return self._api_call(
            where,
            self._role_identity(where, caller),
            "ec2.amazonaws.com",
            name,
            read_only=False,
            request=request,
            response=response,
            agent=self.rng.choice(_SDKS),
        )

    def _service_read(self, where: Where) -> Record:
        prefix = f"{where.region}:{where.account_id}"
        source, name, request = self.rng.choice(
            (
                ("monitoring", "DescribeAlarms", {"alarmNamePrefix": "orders-", "maxRecords": 100}),
                ("dynamodb", "DescribeTable", {"tableName": "orders-prod"}),
                ("ecr", "GetAuthorizationToken", None),
                ("lambda", "GetFunction20150331v2", {"functionName": "orders-processor"}),
                (
                    "secretsmanager",
                    "GetSecretValue",
                    {"secretId": f"arn:aws:secretsmanager:{prefix}:secret:prod/payments/db-Xk2"},
                ),
            )
        )
        caller = self.rng.choice(where.account.roles[_WORKLOADS])
        return self._api_call(
            where,
            self._role_identity(where, caller),
            f"{source}.amazonaws.com",
            name,
            read_only=True,
            request=request,
            agent=self.rng.choice(_SDKS),
        )

    def _sso_console_login(self, where: Where) -> Record:
        role = where.account.roles[self.rng.choice((_ADMIN, _READ_ONLY))]
        session_name, _ = self.rng.choice(role.sessions)
        identity = self._role_identity(where, role, session=(session_name, ""))
        del identity["accessKeyId"]
        record = self._api_call(
            where,
            identity,
            "signin.amazonaws.com",
            "ConsoleLogin",
            read_only=False,
            response={"ConsoleLogin": "Success"},
            agent=self.rng.choice(_BROWSERS),
            tls_host="signin.aws.amazon.com",
        )
        record["eventType"] = "AwsConsoleSignIn"
        provider = f"arn:aws:iam::{where.account_id}:saml-provider/AWSSSO_{self._hex(16)}"
        record["additionalEventData"] = {
            "MobileVersion": "No",
            "MFAUsed": "No",
            "SamlProviderArn": provider + "_DO_NOT_DELETE",
        }
        return record

    def _service_event(self, where: Where) -> Record:
        key_id = self.rng.choice(where.account.kms_keys)
        key_arn = f"arn:aws:kms:{where.region}:{where.account_id}:key/{key_id}"
        return {
            "eventVersion": "1.11",
            "userIdentity": {"accountId": where.account_id, "invokedBy": "kms.amazonaws.com"},
            "eventTime": iso(where.moment),
            "eventSource": "kms.amazonaws.com",
            "eventName": "RotateKey",
            "awsRegion": where.region,
            "sourceIPAddress": "kms.amazonaws.com",
            "userAgent": "kms.amazonaws.com",
            "requestParameters": None,
            "responseElements": None,
            "eventID": self._uuid(),
            "readOnly": False,
            "resources": [_resource(where, "AWS::KMS::Key", key_arn)],
            "eventType": "AwsServiceEvent",
            "managementEvent": True,
            "recipientAccountId": where.account_id,
            "serviceEventDetails": {"keyId": key_id},
            "eventCategory": "Management",
        }

    # Root activity ---------------------------------------------------------------------------

    def _root_event(self, kind: str, where: Where) -> Record:
        source_ip = f"203.0.113.{self.rng.randrange(1, 255)}"
        browser = self.rng.choice(_BROWSERS)
        if kind.startswith("console-login"):
            return self._root_console_login(where, kind, source_ip, browser)
        if kind == "access-key-api":
            return self._api_call(
                where,
                self._root_identity(where, console=False),
                "ec2.amazonaws.com",
                "DescribeRegions",
                read_only=True,
                request={"regionSet": {}, "allRegions": False},
                agent=_SDKS[0],
                source_ip=source_ip,
            )
        source, name, request = self._root_call(kind, where, source_ip)
        response: Record | None = None
        if name == "CreateAccessKey":
            response = {
                "accessKey": {
                    "userName": where.account_id,
                    "accessKeyId": self._id("AKIA", 16),
                    "status": "Active",
                    "createDate": where.moment.strftime("%b %d, %Y, %I:%M:%S %p"),
                }
            }
        return self._api_call(
            where,
            self._root_identity(where, console=True),
            source,
            name,
            read_only=kind in ("api-read", "iam-read"),
            request=request,
            response=response,
            agent=browser,
            source_ip=source_ip,
            console=True,
        )

    def _root_call(self, kind: str, where: Where, source_ip: str) -> tuple[str, str, Record | None]:
        """(event source, event name, request parameters) of a root API call of `kind`."""
        account_id = where.account_id
        if kind == "api-read":
            return self.rng.choice(
                (
                    ("ec2.amazonaws.com", "DescribeInstances", {"instancesSet": {}}),
                    ("ec2.amazonaws.com", "DescribeVpcs", {"vpcSet": {}, "filterSet": {}}),
                    ("cloudtrail.amazonaws.com", "LookupEvents", {"maxResults": 50}),
                    ("s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}),
                )
            )
        if kind == "iam-read":
            name = self.rng.choice(("GetAccountSummary", "ListUsers", "ListMFADevices"))
            return "iam.amazonaws.com", name, None
        if kind == "api-write":
            if self.rng.random() < 0.5:
                instance = self.rng.choice(where.account.instances)
                request = {"instanceId": instance, "disableApiTermination": {"value": False}}
                return "ec2.amazonaws.com", "ModifyInstanceAttribute", request
            ssh_from_here = {
                "ipProtocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": f"{source_ip}/32"}]},
            }
            request = {
                "groupId": "sg-" + self._hex(17),
                "ipPermissions": {"items": [ssh_from_here]},
            }
            return "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", request
        if kind == "create-access-key":
            return "iam.amazonaws.com", "CreateAccessKey", None
        if kind == "deactivate-mfa":
            device = f"arn:aws:iam::{account_id}:mfa/root-account-mfa-device"
            return "iam.amazonaws.com", "DeactivateMFADevice", {"serialNumber": device}
        if kind == "stop-logging":
            trail = f"arn:aws:cloudtrail:us-east-1:{account_id}:trail/org-audit-trail"
            return "cloudtrail.amazonaws.com", "StopLogging", {"name": trail}
        raise ValueError(f"unknown root event kind {kind!r}")

    def _root_console_login(self, where: Where, kind: str, source_ip: str, browser: str) -> Record:
        account_id = where.account_id
        success = kind != "console-login-failed"
        identity = {
            "type": "Root",
            "principalId": account_id,
            "arn": f"arn:aws:iam::{account_id}:root",
            "accountId": account_id,
            "accessKeyId": "",
        }
        record = self._api_call(
            where,
            identity,
            "signin.amazonaws.com",
            "ConsoleLogin",
            read_only=False,
            response={"ConsoleLogin": "Success" if success else "Failure"},
            agent=browser,
            source_ip=source_ip,
            tls_host="signin.aws.amazon.com",
        )
        record["eventType"] = "AwsConsoleSignIn"
        login_to = (
            "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true"
            f"&state=hashArgsFromTB_us-east-1_{self._hex(16)}"
        )
        details: Record = {"LoginTo": login_to, "MobileVersion": "No"}
        if success:
            details["MFAIdentifier"] = f"arn:aws:iam::{account_id}:mfa/root-account-mfa-device"
            details["MFAUsed"] = "Yes" if kind == "console-login-mfa" else "No"
        else:
            details["MFAUsed"] = "No"
            record["errorMessage"] = "Failed authentication"
        record["additionalEventData"] = details
        return record

    # The common envelope ---------------------------------------------------------------------

    def _api_call(
        self,
        where: Where,
        identity: Record,
        source: str,
        name: str,
        *,
        read_only: bool,
        request: Record | None = None,
        response: Record | None = None,
        agent: str,
        source_ip: str | None = None,
        tls_host: str | None = "",
        console: bool = False,
        resources: list[Record] | None = None,
    ) -> Record:
        """An `AwsApiCall` record; `tls_host` None leaves out tlsDetails, "" derives it."""
        record: Record = {
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": iso(where.moment),
            "eventSource": source,
            "eventName": name,
            "awsRegion": where.region,
            "sourceIPAddress": source_ip or self.rng.choice(where.account.source_ips),
            "userAgent": agent,
            "requestParameters": request,
            "responseElements": response,
            "requestID": self._uuid(),
            "eventID": self._uuid(),
            "readOnly": read_only,
        }
        if resources is not None:
            record["resources"] = resources
        record["eventType"] = "AwsApiCall"
        record["managementEvent"] = True
        record["recipientAccountId"] = where.account_id
        record["eventCategory"] = "Management"
        if tls_host is not None:
            version, suite = self.rng.choice(_TLS)
            service = source.partition(".")[0]
            record["tlsDetails"] = {
                "tlsVersion": version,
                "cipherSuite": suite,
                "clientProvidedHostHeader": tls_host or f"{service}.{where.region}.amazonaws.com",
            }
        if console:
            record["sessionCredentialFromConsole"] = "true"
        return record

    # Identifiers -----------------------------------------------------------------------------

    def _uuid(self) -> str:
        text = f"{self.rng.getrandbits(128):032x}"
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"

    def _hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def _id(self, prefix: str, length: int) -> str:
        return prefix + "".join(self.rng.choices(_UPPER_ALNUM, k=length))

    def _public_ip(self) -> str:
        octets = (self.rng.choice((3, 18, 34, 52, 54)), self.rng.randrange(256))
        return f"{octets[0]}.{octets[1]}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    def _session_token(self) -> str:
        # STS session tokens run to 700-1,100 characters of base64.
        length = self.rng.randint(700, 1000)
        return "IQoJb3JpZ2luX2Vj" + "".join(self.rng.choices(_BASE64, k=length))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource(where: Where, resource_type: str, arn: str) -> Record:
    return {"accountId": where.account_id, "type": resource_type, "ARN": arn}


def _filters(name: str, value: str) -> Record:
    return {"items": [{"name": name, "valueSet": {"items": [{"value": value}]}}]}
