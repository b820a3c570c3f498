"""Create, in moto, every resource of a template that the embedded AWS can hold.

Everything comes from the template: names, queue attributes and redrive policies, rule
patterns and targets, the table's keys, indexes and TTL, topics, secrets, identities, bus
policies, alarms. What moto cannot run is adapted, not described again:

- Lambda functions become `LocalFunction`s for the driver (code, handler, environment).
- A rule target that is one of the template's functions is pointed at a "shim" queue that
  the driver polls, invoking the function with the EventBridge event itself.
- Scheduled rules are created as written, without their targets (moto would route every
  event of the bus to a rule without a pattern), and recorded as `Schedule`s the driver
  fires.

Resource types moto would only store without effect (IAM, Lambda permissions, layers) get
names and ARNs so references to them resolve, and are listed in `ProvisionedStack.skipped`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rootwatch.local.outputs import register_local_stack
from rootwatch.local.server import Endpoint
from rootwatch.local.template import (
    NO_VALUE,
    Pseudo,
    StackEvaluation,
    Template,
    TemplateError,
    UnresolvedResourceError,
    references,
)

DEFAULT_SQS_BATCH_SIZE: Final = 10
DEFAULT_ASYNC_RETRIES: Final = 2
# Longest names AWS accepts, per resource kind.
_NAME_LIMITS: Final = {"sqs": 80, "events": 64, "bus": 256, "table": 255, "topic": 256}


class ProvisioningError(Exception):
    """A resource of the template that could not be created locally; names the resource."""


@dataclass(frozen=True, slots=True)
class ProvisionedResource:
    logical_id: str
    resource_type: str
    ref: Any
    attributes: Mapping[str, Any]
    emulated: bool


@dataclass(frozen=True, slots=True)
class LocalFunction:
    """A Lambda function of the template, as the driver runs it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    maximum_retry_attempts: int = DEFAULT_ASYNC_RETRIES
    # Where asynchronous invocations that failed every attempt go (SQS queue ARN).
    dead_letter_queue_arn: str | None = None


@dataclass(frozen=True, slots=True)
class SqsEventSource:
    """An SQS queue polled for a function, as Lambda's event source mapping does."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ShimQueue:
    """The queue standing in for a function as an EventBridge target."""

    function: str
    queue_url: str
    queue_arn: str


@dataclass(frozen=True, slots=True)
class ScheduleTarget:
    """Where a fired schedule delivers its event: a queue or an event bus."""

    arn: str
    queue_url: str | None
    input: str | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A scheduled rule, fired by the driver (moto does not fire schedules)."""

    name: str
    arn: str
    expression: str
    enabled: bool
    targets: tuple[ScheduleTarget, ...]


@dataclass
class ProvisionedStack:
    """One template provisioned in moto: what was created and what the driver runs."""

    template: Template
    evaluation: StackEvaluation
    endpoint: Endpoint
    pseudo: Pseudo
    resources: dict[str, ProvisionedResource] = field(default_factory=dict)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    shims: dict[str, ShimQueue] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)
    dead_letter_queue_arns: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.pseudo.region

    @property
    def account_id(self) -> str:
        return self.pseudo.account_id

    @property
    def stack_name(self) -> str:
        return self.pseudo.stack_name

    def ref(self, logical_id: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise UnresolvedResourceError(logical_id)
        return resource.ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise UnresolvedResourceError(logical_id)
        if attribute not in resource.attributes:
            raise TemplateError(
                f"{logical_id} ({resource.resource_type}) has no attribute {attribute} locally"
            )
        return resource.attributes[attribute]

    def of_type(self, resource_type: str) -> list[ProvisionedResource]:
        return [r for r in self.resources.values() if r.resource_type == resource_type]

    def function_by_name_or_arn(self, name_or_arn: str) -> LocalFunction | None:
        for function in self.functions.values():
            if name_or_arn in (function.name, function.arn, function.logical_id):
                return function
        return None

    def queue_url(self, queue_arn: str) -> str:
        for resource in self.of_type("AWS::SQS::Queue"):
            if resource.attributes.get("Arn") == queue_arn:
                return str(resource.ref)
        for shim in self.shims.values():
            if shim.queue_arn == queue_arn:
                return shim.queue_url
        raise ProvisioningError(f"no queue of this stack has the ARN {queue_arn}")

    def dead_letter_queues(self) -> list[tuple[str, str]]:
        """(logical id, queue URL) of every queue the template uses as a dead-letter queue."""
        return [
            (resource.logical_id, str(resource.ref))
            for resource in self.of_type("AWS::SQS::Queue")
            if resource.attributes.get("Arn") in self.dead_letter_queue_arns
        ]


def provision(
    template: Template,
    endpoint: Endpoint,
    *,
    stack_name: str,
    account_id: str,
    parameters: Mapping[str, str | Iterable[str]] | None = None,
    secret_values: Mapping[str, str] | None = None,
) -> ProvisionedStack:
    """Create the template's resources in moto, in dependency order."""
    pseudo = Pseudo(region=endpoint.region, account_id=account_id, stack_name=stack_name)
    evaluation = StackEvaluation(template, pseudo, overrides=dict(parameters or {}))
    stack = ProvisionedStack(template, evaluation, endpoint, pseudo)
    evaluation.resources = stack
    provisioner = _Provisioner(stack, secret_values or {})
    for logical_id in _creation_order(template, evaluation):
        try:
            provisioner.create(logical_id)
        except (TemplateError, ProvisioningError) as error:
            raise ProvisioningError(f"{logical_id}: {error}") from error
    for name in template.outputs:
        value = evaluation.resolve_output(name)
        if value is not NO_VALUE:
            stack.outputs[name] = value
    _record_stack(stack)
    return stack


def _record_stack(stack: ProvisionedStack) -> None:
    """A CloudFormation stack with this stack's name, parameters and outputs.

    Tools that find a deployed stack through DescribeStacks (the `rootwatch` commands with
    `--endpoint-url`) find the local one the same way.
    """
    register_local_stack(
        stack.endpoint.session,
        stack.stack_name,
        {name: _text(value) for name, value in stack.outputs.items()},
        endpoint_url=stack.endpoint.url,
        parameters={
            name: ",".join(value) if isinstance(value, list) else str(value)
            for name, value in stack.evaluation.parameters.items()
        },
    )


def _creation_order(template: Template, evaluation: StackEvaluation) -> list[str]:
    active = evaluation.active_resources()
    dependencies: dict[str, set[str]] = {}
    for logical_id in active:
        resource = template.resources[logical_id]
        depends_on = resource.get("DependsOn") or []
        names = set(references(template.properties_of(logical_id)))
        names.update([depends_on] if isinstance(depends_on, str) else depends_on)
        dependencies[logical_id] = {name for name in names if name in active}
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(logical_id: str, path: tuple[str, ...]) -> None:
        if state.get(logical_id) == "done":
            return
        if state.get(logical_id) == "visiting":
            cycle = " -> ".join((*path, logical_id))
            raise ProvisioningError(f"circular dependency: {cycle}")
        state[logical_id] = "visiting"
        for dependency in sorted(dependencies[logical_id]):
            visit(dependency, (*path, logical_id))
        state[logical_id] = "done"
        order.append(logical_id)

    for logical_id in active:
        visit(logical_id, ())
    return order


def _physical_name(stack: ProvisionedStack, logical_id: str, kind: str, suffix: str = "") -> str:
    limit = _NAME_LIMITS[kind] - len(suffix)
    return f"{stack.stack_name}-{logical_id}"[:limit] + suffix


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    tags = properties.get("Tags") or []
    if isinstance(tags, dict):
        return [{"Key": str(key), "Value": str(value)} for key, value in tags.items()]
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in tags]


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ProvisioningError(f"not an ARN: {arn!r}")
    return parts[2], parts[3], parts[4], parts[5]


class _Provisioner:
    def __init__(self, stack: ProvisionedStack, secret_values: Mapping[str, str]) -> None:
        self._stack = stack
        self._secret_values = secret_values
        self._endpoint = stack.endpoint
        self._bus_statements: dict[str, dict[str, dict[str, Any]]] = {}
        self._creators: dict[str, Callable[[str, dict[str, Any]], ProvisionedResource]] = {
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::EventBusPolicy": self._event_bus_policy,
            "AWS::Events::Rule": self._rule,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SES::EmailIdentity": self._email_identity,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Serverless::Function": self._function,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
        }

    def create(self, logical_id: str) -> None:
        stack = self._stack
        resource_type = str(stack.template.resources[logical_id].get("Type", ""))
        creator = self._creators.get(resource_type)
        if creator is None:
            stack.resources[logical_id] = self._named_only(logical_id, resource_type)
            stack.skipped.append((logical_id, resource_type))
            return
        properties = stack.evaluation.resolve(stack.template.properties_of(logical_id))
        stack.resources[logical_id] = creator(logical_id, properties)

    def _arn(self, service: str, resource: str, *, region: bool = True) -> str:
        stack = self._stack
        return (
            f"arn:{stack.pseudo.partition}:{service}:{stack.region if region else ''}:"
            f"{stack.account_id}:{resource}"
        )

    def _named_only(self, logical_id: str, resource_type: str) -> ProvisionedResource:
        """A resource moto would not act on: a name and an ARN, so references resolve."""
        stack = self._stack
        name = f"{stack.stack_name}-{logical_id}"
        service = resource_type.split("::")[1].lower() if "::" in resource_type else "local"
        if resource_type == "AWS::IAM::Role":
            arn = self._arn("iam", f"role/{name}", region=False)
        elif resource_type == "AWS::IAM::ManagedPolicy":
            arn = self._arn("iam", f"policy/{name}", region=False)
            return ProvisionedResource(logical_id, resource_type, arn, {"Arn": arn}, False)
        elif resource_type in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            arn = self._arn("lambda", f"layer:{name}:1")
            return ProvisionedResource(logical_id, resource_type, arn, {"Arn": arn}, False)
        else:
            arn = self._arn(service, f"{logical_id.lower()}/{name}")
        attributes = {"Arn": arn, "Name": name, "Id": name, "RoleId": name}
        return ProvisionedResource(logical_id, resource_type, name, attributes, False)

    # SQS ---------------------------------------------------------------------------

    def _queue(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        fifo = bool(properties.get("FifoQueue"))
        name = properties.get("QueueName") or _physical_name(
            self._stack, logical_id, "sqs", ".fifo" if fifo else ""
        )
        attributes: dict[Any, str] = {
            key: _text(value)
            for key, value in properties.items()
            if key not in ("QueueName", "Tags")
        }
        redrive = properties.get("RedrivePolicy")
        if isinstance(redrive, dict) and redrive.get("deadLetterTargetArn"):
            self._stack.dead_letter_queue_arns.add(str(redrive["deadLetterTargetArn"]))
        sqs = self._endpoint.sqs()
        tags = {tag["Key"]: tag["Value"] for tag in _tags(properties)}
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return ProvisionedResource(
            logical_id,
            "AWS::SQS::Queue",
            url,
            {"Arn": arn, "QueueName": name, "QueueUrl": url},
            True,
        )

    def _queue_policy(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        sqs = self._endpoint.sqs()
        policy = json.dumps(properties["PolicyDocument"])
        for url in properties.get("Queues") or []:
            sqs.set_queue_attributes(QueueUrl=str(url), Attributes={"Policy": policy})
        return ProvisionedResource(logical_id, "AWS::SQS::QueuePolicy", logical_id, {}, True)

    def _shim_queue(self, function: LocalFunction) -> ShimQueue:
        shim = self._stack.shims.get(function.logical_id)
        if shim is None:
            sqs = self._endpoint.sqs()
            name = _physical_name(self._stack, function.logical_id, "sqs", "-invoke")
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            shim = ShimQueue(function.logical_id, url, arn)
            self._stack.shims[function.logical_id] = shim
        return shim

    # EventBridge -------------------------------------------------------------------

    def _event_bus(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        events = self._endpoint.events()
        name = str(properties.get("Name") or _physical_name(self._stack, logical_id, "bus"))
        arguments: dict[str, Any] = {"Name": name}
        if properties.get("Description"):
            arguments["Description"] = str(properties["Description"])
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        arn = events.create_event_bus(**arguments)["EventBusArn"]
        policy = properties.get("Policy")
        if policy:
            document = json.loads(policy) if isinstance(policy, str) else policy
            for statement in document.get("Statement", []):
                self._add_bus_statement(name, statement)
        attributes = {"Arn": arn, "Name": name, "Policy": _text(policy) if policy else ""}
        return ProvisionedResource(logical_id, "AWS::Events::EventBus", name, attributes, True)

    def _event_bus_policy(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        bus = str(properties.get("EventBusName") or "default").split("/")[-1]
        statement_id = str(properties["StatementId"])
        statement = properties.get("Statement")
        if statement is None:
            principal = str(properties["Principal"])
            statement = {
                "Effect": "Allow",
                "Principal": {
                    "AWS": principal if principal == "*" else f"arn:aws:iam::{principal}:root"
                },
                "Action": str(properties.get("Action") or "events:PutEvents"),
                "Resource": self._arn("events", f"event-bus/{bus}"),
            }
            condition = properties.get("Condition")
            if condition:
                statement["Condition"] = {
                    str(condition["Type"]): {str(condition["Key"]): condition["Value"]}
                }
        self._add_bus_statement(bus, {**statement, "Sid": statement_id})
        return ProvisionedResource(
            logical_id, "AWS::Events::EventBusPolicy", statement_id, {}, True
        )

    def _add_bus_statement(self, bus: str, statement: dict[str, Any]) -> None:
        statements = self._bus_statements.setdefault(bus, {})
        sid = str(statement.get("Sid") or f"statement-{len(statements) + 1}")
        statements[sid] = {**statement, "Sid": sid}
        # moto replaces statements that share a principal, so the whole policy goes each time.
        document = {"Version": "2012-10-17", "Statement": list(statements.values())}
        self._endpoint.events().put_permission(EventBusName=bus, Policy=json.dumps(document))

    def _rule(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        name = str(properties.get("Name") or _physical_name(self._stack, logical_id, "events"))
        bus = str(properties.get("EventBusName") or "default")
        return self._create_rule(
            logical_id,
            name=name,
            bus=bus,
            pattern=properties.get("EventPattern"),
            schedule=properties.get("ScheduleExpression"),
            state=str(properties.get("State") or "ENABLED"),
            description=properties.get("Description"),
            targets=list(properties.get("Targets") or []),
        )

    def _create_rule(
        self,
        logical_id: str,
        *,
        name: str,
        bus: str,
        pattern: Any,
        schedule: Any,
        state: str,
        description: Any,
        targets: list[dict[str, Any]],
    ) -> ProvisionedResource:
        events = self._endpoint.events()
        arguments: dict[str, Any] = {"Name": name, "State": state}
        if bus != "default":
            arguments["EventBusName"] = bus
        if pattern is not None:
            arguments["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if schedule is not None:
            arguments["ScheduleExpression"] = str(schedule)
        if description:
            arguments["Description"] = str(description)
        arn = events.put_rule(**arguments)["RuleArn"]
        delivered = [self._local_target(target) for target in targets]
        routable = [target for target in delivered if target is not None]
        # moto sends every event on the bus to a rule without a pattern, so a schedule's
        # targets stay with the driver, which fires the schedule itself.
        if routable and schedule is None:
            put_arguments: dict[str, Any] = {"Rule": name, "Targets": routable}
            if bus != "default":
                put_arguments["EventBusName"] = bus
            events.put_targets(**put_arguments)
        if schedule is not None:
            self._stack.schedules.append(
                Schedule(
                    name=name,
                    arn=arn,
                    expression=str(schedule),
                    enabled=state != "DISABLED",
                    targets=tuple(
                        ScheduleTarget(
                            arn=target["Arn"],
                            queue_url=self._queue_url_or_none(target["Arn"]),
                            input=target.get("Input"),
                        )
                        for target in routable
                    ),
                )
            )
        bus_name = bus.rsplit("/", maxsplit=1)[-1]
        ref = name if bus_name == "default" else f"{bus_name}|{name}"
        return ProvisionedResource(logical_id, "AWS::Events::Rule", ref, {"Arn": arn}, True)

    def _local_target(self, target: Mapping[str, Any]) -> dict[str, Any] | None:
        """The target as moto can deliver it; None for kinds moto cannot deliver to."""
        arn = str(target["Arn"])
        service, _, _, resource = _arn_parts(arn)
        dead_letter = target.get("DeadLetterConfig") or {}
        if dead_letter.get("Arn"):
            self._stack.dead_letter_queue_arns.add(str(dead_letter["Arn"]))
        if service == "lambda":
            function = self._stack.function_by_name_or_arn(arn)
            if function is None:
                raise ProvisioningError(f"target {arn} is not a function of this template")
            return {**target, "Arn": self._shim_queue(function).queue_arn}
        if service == "sqs" or (service == "events" and resource.startswith("event-bus/")):
            return dict(target)
        if service == "logs":
            return dict(target)
        self._stack.skipped.append((str(target.get("Id")), f"rule target {arn}"))
        return None

    def _queue_url_or_none(self, arn: str) -> str | None:
        service, *_ = _arn_parts(arn)
        return self._stack.queue_url(arn) if service == "sqs" else None

    # DynamoDB ----------------------------------------------------------------------

    def _table(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        dynamodb = self._endpoint.dynamodb()
        name = str(properties.get("TableName") or _physical_name(self._stack, logical_id, "table"))
        billing = str(properties.get("BillingMode") or "PROVISIONED")
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            arguments["ProvisionedThroughput"] = properties.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(index_kind):
                arguments[index_kind] = [
                    {
                        key: value
                        for key, value in index.items()
                        if key in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                    }
                    for index in properties[index_kind]
                ]
        stream = properties.get("StreamSpecification")
        if stream:
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        encryption = properties.get("SSESpecification")
        if encryption:
            arguments["SSESpecification"] = {
                "Enabled": bool(encryption.get("SSEEnabled")),
                **{
                    key: encryption[key]
                    for key in ("SSEType", "KMSMasterKeyId")
                    if key in encryption
                },
            }
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        if "DeletionProtectionEnabled" in properties:
            arguments["DeletionProtectionEnabled"] = bool(properties["DeletionProtectionEnabled"])
        description = dynamodb.create_table(**arguments)["TableDescription"]
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "Enabled": True,
                    "AttributeName": str(ttl["AttributeName"]),
                },
            )
        recovery = properties.get("PointInTimeRecoverySpecification")
        if recovery and recovery.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return ProvisionedResource(logical_id, "AWS::DynamoDB::Table", name, attributes, True)

    # SNS ---------------------------------------------------------------------------

    def _topic(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        sns = self._endpoint.sns()
        fifo = bool(properties.get("FifoTopic"))
        name = str(
            properties.get("TopicName")
            or _physical_name(self._stack, logical_id, "topic", ".fifo" if fifo else "")
        )
        attributes = {
            key: _text(properties[key])
            for key in ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication")
            if key in properties
        }
        arguments: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        arn = sns.create_topic(**arguments)["TopicArn"]
        for subscription in properties.get("Subscription") or []:
            sns.subscribe(
                TopicArn=arn,
                Protocol=str(subscription["Protocol"]),
                Endpoint=str(subscription["Endpoint"]),
            )
        return ProvisionedResource(
            logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, True
        )

    def _subscription(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        attributes: dict[str, str] = {
            key: _text(properties[key])
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if key in properties
        }
        arn = self._endpoint.sns().subscribe(
            TopicArn=str(properties["TopicArn"]),
            Protocol=str(properties["Protocol"]),
            Endpoint=str(properties["Endpoint"]),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return ProvisionedResource(logical_id, "AWS::SNS::Subscription", arn, {"Arn": arn}, True)

    def _topic_policy(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        sns = self._endpoint.sns()
        policy = json.dumps(properties["PolicyDocument"])
        for topic in properties.get("Topics") or []:
            sns.set_topic_attributes(
                TopicArn=str(topic), AttributeName="Policy", AttributeValue=policy
            )
        return ProvisionedResource(logical_id, "AWS::SNS::TopicPolicy", logical_id, {}, True)

    # Secrets, SES, KMS ---------------------------------------------------------------

    def _secret(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        name = str(properties.get("Name") or f"{self._stack.stack_name}-{logical_id}")
        if name in self._secret_values:
            value = self._secret_values[name]
        elif "SecretString" in properties:
            value = str(properties["SecretString"])
        else:
            value = secrets.token_urlsafe(24)
        arguments: dict[str, Any] = {"Name": name, "SecretString": value}
        if properties.get("Description"):
            arguments["Description"] = str(properties["Description"])
        if properties.get("Tags"):
            arguments["Tags"] = _tags(properties)
        arn = self._endpoint.secretsmanager().create_secret(**arguments)["ARN"]
        return ProvisionedResource(
            logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn}, True
        )

    def _email_identity(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        identity = str(properties["EmailIdentity"])
        self._endpoint.sesv2().create_email_identity(EmailIdentity=identity)
        return ProvisionedResource(logical_id, "AWS::SES::EmailIdentity", identity, {}, True)

    def _kms_key(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        arguments: dict[str, Any] = {}
        if properties.get("KeyPolicy"):
            arguments["Policy"] = _text(properties["KeyPolicy"])
        if properties.get("Description"):
            arguments["Description"] = str(properties["Description"])
        metadata = self._endpoint.client("kms").create_key(**arguments)["KeyMetadata"]
        return ProvisionedResource(
            logical_id,
            "AWS::KMS::Key",
            metadata["KeyId"],
            {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]},
            True,
        )

    def _kms_alias(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        alias = str(properties["AliasName"])
        self._endpoint.client("kms").create_alias(
            AliasName=alias, TargetKeyId=str(properties["TargetKeyId"])
        )
        return ProvisionedResource(logical_id, "AWS::KMS::Alias", alias, {}, True)

    # CloudWatch ------------------------------------------------------------------------

    def _alarm(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        name = str(properties.get("AlarmName") or f"{self._stack.stack_name}-{logical_id}")
        arguments = {key: value for key, value in properties.items() if key != "AlarmName"}
        self._endpoint.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
        arn = self._arn("cloudwatch", f"alarm:{name}")
        return ProvisionedResource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": arn}, True)

    def _dashboard(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        name = str(properties.get("DashboardName") or f"{self._stack.stack_name}-{logical_id}")
        body = properties.get("DashboardBody", "{}")
        self._endpoint.client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=_text(body)
        )
        return ProvisionedResource(logical_id, "AWS::CloudWatch::Dashboard", name, {}, True)

    def _log_group(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        name = str(properties.get("LogGroupName") or f"{self._stack.stack_name}-{logical_id}")
        logs = self._endpoint.client("logs")
        logs.create_log_group(logGroupName=name)
        if properties.get("RetentionInDays"):
            logs.put_retention_policy(
                logGroupName=name, retentionInDays=int(properties["RetentionInDays"])
            )
        arn = self._arn("logs", f"log-group:{name}:*")
        return ProvisionedResource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn}, True)

    # Lambda --------------------------------------------------------------------------

    def _function(self, logical_id: str, properties: dict[str, Any]) -> ProvisionedResource:
        stack = self._stack
        resource_type = str(stack.template.resources[logical_id]["Type"])
        name = str(properties.get("FunctionName") or f"{stack.stack_name}-{logical_id}")
        code_uri = properties.get("CodeUri")
        if not isinstance(code_uri, str):
            raise ProvisioningError("only a local CodeUri (a directory) can run locally")
        handler = properties.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise ProvisioningError(f"Handler must be module.function, not {handler!r}")
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        event_invoke = properties.get("EventInvokeConfig") or {}
        # SAM's DeadLetterQueue (Type, TargetArn) or Lambda's DeadLetterConfig (TargetArn).
        dead_letter = properties.get("DeadLetterQueue") or properties.get("DeadLetterConfig") or {}
        dead_letter_arn = dead_letter.get("TargetArn")
        if dead_letter_arn and _arn_parts(str(dead_letter_arn))[0] == "sqs":
            stack.dead_letter_queue_arns.add(str(dead_letter_arn))
        else:
            dead_letter_arn = None
        function = LocalFunction(
            logical_id=logical_id,
            name=name,
            arn=self._arn("lambda", f"function:{name}"),
            code_dir=(stack.template.directory / code_uri).resolve(),
            handler=handler,
            environment={str(key): _text(value) for key, value in variables.items()},
            timeout_seconds=int(properties.get("Timeout", 3)),
            memory_mb=int(properties.get("MemorySize", 128)),
            maximum_retry_attempts=int(
                event_invoke.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)
            ),
            dead_letter_queue_arn=str(dead_letter_arn) if dead_letter_arn else None,
        )
        stack.functions[logical_id] = function
        for event_name, event in (properties.get("Events") or {}).items():
            self._function_event(function, str(event_name), event)
        return ProvisionedResource(
            logical_id, resource_type, name, {"Arn": function.arn}, emulated=True
        )

    def _function_event(self, function: LocalFunction, event_name: str, event: Any) -> None:
        event_type = str(event.get("Type"))
        properties = event.get("Properties") or {}
        logical_id = f"{function.logical_id}{event_name}"
        if event_type == "SQS":
            self._add_sqs_source(
                function,
                queue_arn=str(properties["Queue"]),
                batch_size=int(properties.get("BatchSize", DEFAULT_SQS_BATCH_SIZE)),
                response_types=properties.get("FunctionResponseTypes") or [],
                enabled=bool(properties.get("Enabled", True)),
            )
        elif event_type in ("EventBridgeRule", "CloudWatchEvent"):
            target = {"Id": str((properties.get("Target") or {}).get("Id") or logical_id)}
            for key in ("Input", "InputPath", "DeadLetterConfig", "RetryPolicy"):
                if key in properties:
                    target[key] = properties[key]
            self._create_rule(
                logical_id,
                name=str(
                    properties.get("RuleName") or _physical_name(self._stack, logical_id, "events")
                ),
                bus=str(properties.get("EventBusName") or "default"),
                pattern=properties["Pattern"],
                schedule=None,
                state=str(properties.get("State") or "ENABLED"),
                description=None,
                targets=[{**target, "Arn": function.arn}],
            )
        elif event_type in ("Schedule", "ScheduleV2"):
            expression = properties.get("Schedule") or properties.get("ScheduleExpression")
            enabled = properties.get("Enabled", True) and properties.get("State") != "DISABLED"
            target = {"Id": logical_id, "Arn": function.arn}
            if "Input" in properties:
                target["Input"] = properties["Input"]
            self._create_rule(
                logical_id,
                name=str(
                    properties.get("Name") or _physical_name(self._stack, logical_id, "events")
                ),
                bus="default",
                pattern=None,
                schedule=expression,
                state="ENABLED" if enabled else "DISABLED",
                description=properties.get("Description"),
                targets=[target],
            )
        else:
            self._stack.skipped.append((logical_id, f"{event_type} event of {function.logical_id}"))

    def _event_source_mapping(
        self, logical_id: str, properties: dict[str, Any]
    ) -> ProvisionedResource:
        function = self._stack.function_by_name_or_arn(str(properties["FunctionName"]))
        if function is None:
            raise ProvisioningError(f"{properties['FunctionName']} is not a function here")
        source_arn = str(properties["EventSourceArn"])
        if _arn_parts(source_arn)[0] != "sqs":
            self._stack.skipped.append((logical_id, f"event source {source_arn}"))
        else:
            self._add_sqs_source(
                function,
                queue_arn=source_arn,
                batch_size=int(properties.get("BatchSize", DEFAULT_SQS_BATCH_SIZE)),
                response_types=properties.get("FunctionResponseTypes") or [],
                enabled=bool(properties.get("Enabled", True)),
            )
        return ProvisionedResource(
            logical_id, "AWS::Lambda::EventSourceMapping", logical_id, {}, True
        )

    def _add_sqs_source(
        self,
        function: LocalFunction,
        *,
        queue_arn: str,
        batch_size: int,
        response_types: Iterable[str],
        enabled: bool,
    ) -> None:
        self._stack.sqs_sources.append(
            SqsEventSource(
                function=function.logical_id,
                queue_url=self._stack.queue_url(queue_arn),
                queue_arn=queue_arn,
                batch_size=batch_size,
                report_batch_item_failures="ReportBatchItemFailures" in response_types,
                enabled=enabled,
            )
        )
