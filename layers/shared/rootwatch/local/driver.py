"""Drive the template's functions as Lambda would, against the embedded AWS.

Each function is loaded from its `CodeUri` and `Handler` by file path and runs with the
environment the template gives it (resolved to the local resources) plus `AWS_ENDPOINT_URL`,
so production code runs unchanged. The driver:

- polls each SQS event source with its `BatchSize` and builds Lambda's SQS event
  (`messageId`, `receiptHandle`, `body`, `attributes` with `ApproximateReceiveCount`,
  `messageAttributes`, `eventSourceARN`, `awsRegion`);
- honours `ReportBatchItemFailures`: successes are deleted and failures become visible
  again (at once: locally a retry does not wait for the visibility timeout), so moto's
  redrive moves a message to its DLQ after `maxReceiveCount` receives;
- invokes functions that are rule targets with the EventBridge event itself, read from the
  function's shim queue, retrying as asynchronous invocations are retried;
- fires scheduled rules on request (moto never fires them);
- captures what each function prints: log lines, and CloudWatch embedded metrics, which it
  publishes to the local CloudWatch with Lambda's own `Invocations` and `Errors`.

Functions run one at a time in this process; `os.environ` holds the running function's
environment for the duration of its import and of each invocation. What Lambda would add
and the driver does not: function timeouts and memory limits are not enforced, and a
failed message is retried at once rather than after its visibility timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from rootwatch.local.provision import (
    LocalFunction,
    ProvisionedStack,
    Schedule,
    ShimQueue,
    SqsEventSource,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

SQS_RECEIVE_LIMIT: Final = 10
# A message that keeps failing on a queue without a redrive policy would be retried until
# its retention period ends; locally it is set aside after this many receives.
STUCK_AFTER_RECEIVES: Final = 25
_PYTHON_RUNTIME: Final = f"python{sys.version_info.major}.{sys.version_info.minor}"


class DrainError(Exception):
    """The queues did not empty: some function keeps producing work."""


@dataclass(frozen=True, slots=True)
class MetricDatum:
    """One value of a CloudWatch embedded-metric document a function printed."""

    function: str
    namespace: str
    name: str
    value: float
    unit: str
    dimensions: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Invocation:
    function: str
    trigger: str
    records: int
    failed_records: int
    error: str | None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A message the driver stopped retrying: asynchronous retries spent, or stuck."""

    function: str
    queue: str
    body: str
    reason: str


@dataclass
class LambdaContext:
    """The context object Lambda passes to a handler."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_seconds: int
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class _OutputRouter(io.TextIOBase):
    """sys.stdout and sys.stderr while functions run: lines go to the running function's log.

    Loggers created while a function module is imported keep a reference to this stream,
    so it is one object for the whole process and routes by whoever runs now.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._sink: list[str] | None = None
        self._pending = ""

    @contextlib.contextmanager
    def capture(self, sink: list[str]) -> Iterator[None]:
        with self._lock:
            previous, self._sink = self._sink, sink
        try:
            with contextlib.redirect_stdout(self), contextlib.redirect_stderr(self):
                yield
        finally:
            self.flush_line()
            with self._lock:
                self._sink = previous

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            if self._sink is not None:
                self._sink.extend(lines)
        return len(text)

    def flush_line(self) -> None:
        with self._lock:
            if self._pending and self._sink is not None:
                self._sink.append(self._pending)
            self._pending = ""


_OUTPUT: Final = _OutputRouter()


class FunctionRuntime:
    """One function's execution environment: its module, environment and output."""

    def __init__(self, function: LocalFunction, stack: ProvisionedStack) -> None:
        self.function = function
        self._stack = stack
        self._module: ModuleType | None = None
        self._handler: Callable[[Any, Any], Any] | None = None
        self.log: list[str] = []
        self.metrics: list[MetricDatum] = []
        self.published_metrics = 0
        self.environment = self._environment()

    def _environment(self) -> dict[str, str]:
        function = self.function
        stack = self._stack
        return {
            **function.environment,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{_PYTHON_RUNTIME}",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            # No X-Ray daemon runs locally.
            "POWERTOOLS_TRACE_DISABLED": "true",
            **stack.endpoint.environment(),
        }

    @contextlib.contextmanager
    def _running(self, output: list[str]) -> Iterator[None]:
        saved = dict(os.environ)
        for name in list(os.environ):
            if name.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN_")):
                del os.environ[name]
        os.environ.update(self.environment)
        try:
            with _OUTPUT.capture(output):
                yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _load(self) -> Callable[[Any, Any], Any]:
        if self._handler is not None:
            return self._handler
        module_path, _, attribute = self.function.handler.rpartition(".")
        source = self.function.code_dir / Path(*module_path.split("."))
        source = source.with_suffix(".py")
        module_name = f"_rootwatch_local_{self.function.logical_id}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {source}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler = getattr(module, attribute)
        self._module, self._handler = module, handler
        return handler  # type: ignore[no-any-return]

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event` as Lambda would; exceptions propagate to the caller."""
        context = LambdaContext(
            function_name=self.function.name,
            invoked_function_arn=self.function.arn,
            memory_limit_in_mb=self.function.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=self.function.timeout_seconds,
        )
        output: list[str] = []
        try:
            with self._running(output):
                handler = self._load()
                return handler(event, context)
        except Exception:
            output.append(traceback.format_exc())
            raise
        finally:
            self._collect(output)

    def _collect(self, output: list[str]) -> None:
        for line in output:
            document = _json_object(line)
            if document is not None and isinstance(document.get("_aws"), dict):
                self.metrics.extend(_embedded_metrics(self.function.logical_id, document))
            else:
                self.log.append(line)


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _embedded_metrics(function: str, document: Mapping[str, Any]) -> Iterator[MetricDatum]:
    for directive in document["_aws"].get("CloudWatchMetrics") or []:
        dimension_sets = directive.get("Dimensions") or [[]]
        for definition in directive.get("Metrics") or []:
            name = str(definition.get("Name"))
            values = document.get(name)
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, (int, float)):
                    continue
                for dimension_set in dimension_sets:
                    yield MetricDatum(
                        function=function,
                        namespace=str(directive.get("Namespace")),
                        name=name,
                        value=float(value),
                        unit=str(definition.get("Unit") or "None"),
                        dimensions={key: str(document.get(key)) for key in dimension_set},
                    )


def _sqs_record(message: MessageTypeDef, source: SqsEventSource, region: str) -> dict[str, Any]:
    attributes = message.get("MessageAttributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": list(value.get("StringListValues") or []),
                "binaryListValues": list(value.get("BinaryListValues") or []),
                "dataType": value["DataType"],
            }
            for name, value in attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _failed_message_ids(response: Any, message_ids: Sequence[str]) -> set[str]:
    """The messages Lambda would retry after a ReportBatchItemFailures response."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return set()
    failures = response["batchItemFailures"]
    identifiers = [
        failure.get("itemIdentifier") if isinstance(failure, dict) else None for failure in failures
    ]
    # An identifier that is empty or not in the batch makes Lambda fail the whole batch.
    if any(not identifier or identifier not in message_ids for identifier in identifiers):
        return set(message_ids)
    return {str(identifier) for identifier in identifiers}


class LambdaDriver:
    """Runs the functions of a provisioned stack until their queues are empty."""

    def __init__(self, stack: ProvisionedStack) -> None:
        self._stack = stack
        self._sqs = stack.endpoint.sqs()
        self._cloudwatch = stack.endpoint.client("cloudwatch")
        self.runtimes = {
            logical_id: FunctionRuntime(function, stack)
            for logical_id, function in stack.functions.items()
        }
        self.invocations: list[Invocation] = []
        self.set_aside: list[SetAside] = []
        self._redriven_queues = {
            source.queue_url
            for source in stack.sqs_sources
            if self._has_redrive_policy(source.queue_url)
        }

    @property
    def metrics(self) -> list[MetricDatum]:
        return [datum for runtime in self.runtimes.values() for datum in runtime.metrics]

    def _has_redrive_policy(self, queue_url: str) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        return bool(attributes.get("RedrivePolicy"))

    def drain(self, *, max_passes: int = 10_000) -> int:
        """Poll every source until none has a message; returns the messages handled."""
        handled = 0
        for _ in range(max_passes):
            step = self.poll_once()
            if step == 0:
                return handled
            handled += step
        raise DrainError(f"queues still not empty after {max_passes} passes")

    def poll_once(self) -> int:
        """One pass over every event source: each gets at most one batch."""
        handled = 0
        for source in self._stack.sqs_sources:
            if source.enabled:
                handled += self._poll_sqs_source(source)
        for shim in self._stack.shims.values():
            handled += self._poll_shim(shim)
        return handled

    def _receive(self, queue_url: str, limit: int) -> list[MessageTypeDef]:
        messages: list[MessageTypeDef] = []
        while len(messages) < limit:
            received = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, limit - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def _poll_sqs_source(self, source: SqsEventSource) -> int:
        messages = self._receive(source.queue_url, source.batch_size)
        if not messages:
            return 0
        runtime = self.runtimes[source.function]
        event = {
            "Records": [_sqs_record(message, source, self._stack.region) for message in messages]
        }
        message_ids = [message["MessageId"] for message in messages]
        error: str | None = None
        try:
            response = runtime.invoke(event)
        except Exception as exception:
            error = f"{type(exception).__name__}: {exception}"
            failed = set(message_ids)
        else:
            failed = (
                _failed_message_ids(response, message_ids)
                if source.report_batch_item_failures
                else set()
            )
        self._settle(source, messages, failed)
        self._record(runtime, f"sqs:{source.queue_arn}", len(messages), len(failed), error)
        return len(messages)

    def _settle(
        self, source: SqsEventSource, messages: Sequence[MessageTypeDef], failed: set[str]
    ) -> None:
        deletions: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(messages)
            if message["MessageId"] not in failed
        ]
        retries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = []
        for index, message in enumerate(messages):
            if message["MessageId"] not in failed:
                continue
            receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            if source.queue_url not in self._redriven_queues and receives >= STUCK_AFTER_RECEIVES:
                self.set_aside.append(
                    SetAside(
                        function=source.function,
                        queue=source.queue_url,
                        body=message.get("Body", ""),
                        reason=f"failed {receives} times on a queue without a redrive policy",
                    )
                )
                deletions.append({"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]})
            else:
                retries.append(
                    {
                        "Id": str(index),
                        "ReceiptHandle": message["ReceiptHandle"],
                        "VisibilityTimeout": 0,
                    }
                )
        for start in range(0, len(deletions), SQS_RECEIVE_LIMIT):
            self._sqs.delete_message_batch(
                QueueUrl=source.queue_url, Entries=deletions[start : start + SQS_RECEIVE_LIMIT]
            )
        for start in range(0, len(retries), SQS_RECEIVE_LIMIT):
            self._sqs.change_message_visibility_batch(
                QueueUrl=source.queue_url, Entries=retries[start : start + SQS_RECEIVE_LIMIT]
            )

    def _poll_shim(self, shim: ShimQueue) -> int:
        messages = self._receive(shim.queue_url, SQS_RECEIVE_LIMIT)
        runtime = self.runtimes[shim.function]
        for message in messages:
            body = message.get("Body", "")
            receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            error: str | None = None
            try:
                runtime.invoke(json.loads(body))
            except Exception as exception:
                error = f"{type(exception).__name__}: {exception}"
            self._record(runtime, "eventbridge", 1, 1 if error else 0, error)
            attempts_left = (
                error is not None and receives <= runtime.function.maximum_retry_attempts
            )
            if attempts_left:
                self._sqs.change_message_visibility(
                    QueueUrl=shim.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
                continue
            if error is not None:
                self._give_up_asynchronous(runtime, shim, body, receives, error)
            self._sqs.delete_message(
                QueueUrl=shim.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return len(messages)

    def _give_up_asynchronous(
        self, runtime: FunctionRuntime, shim: ShimQueue, body: str, attempts: int, error: str
    ) -> None:
        """What Lambda does with an event whose every attempt failed: its DLQ, if it has one."""
        dead_letter_arn = runtime.function.dead_letter_queue_arn
        if dead_letter_arn is None:
            self.set_aside.append(
                SetAside(
                    function=shim.function,
                    queue=shim.queue_url,
                    body=body,
                    reason=f"asynchronous invocation failed {attempts} times: {error}",
                )
            )
            return
        self._sqs.send_message(
            QueueUrl=self._stack.queue_url(dead_letter_arn),
            MessageBody=body,
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": error[:1000]},
            },
        )

    def _record(
        self, runtime: FunctionRuntime, trigger: str, records: int, failed: int, error: str | None
    ) -> None:
        self.invocations.append(
            Invocation(runtime.function.logical_id, trigger, records, failed, error)
        )
        self._publish_metrics(runtime, error is not None)

    def _publish_metrics(self, runtime: FunctionRuntime, errored: bool) -> None:
        """What CloudWatch would hold: Lambda's own metrics and the function's EMF output."""
        now = datetime.now(UTC)
        name = runtime.function.name
        data: list[dict[str, Any]] = [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": name}],
                "Value": value,
                "Unit": "Count",
                "Timestamp": now,
            }
            for metric, value in (("Invocations", 1.0), ("Errors", 1.0 if errored else 0.0))
        ]
        namespace_data: dict[str, list[dict[str, Any]]] = {"AWS/Lambda": data}
        fresh = runtime.metrics[runtime.published_metrics :]
        runtime.published_metrics = len(runtime.metrics)
        for datum in fresh:
            namespace_data.setdefault(datum.namespace, []).append(
                {
                    "MetricName": datum.name,
                    "Dimensions": [
                        {"Name": key, "Value": value} for key, value in datum.dimensions.items()
                    ],
                    "Value": datum.value,
                    "Unit": datum.unit,
                    "Timestamp": now,
                }
            )
        for namespace, metric_data in namespace_data.items():
            for start in range(0, len(metric_data), 500):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=metric_data[start : start + 500]
                )

    def fire_schedules(self, *, at: datetime | None = None, names: Sequence[str] = ()) -> int:
        """Deliver one event of each enabled schedule (or of those named) to its targets."""
        fired = 0
        for schedule in self._stack.schedules:
            if not schedule.enabled or (names and schedule.name not in names):
                continue
            self.fire(schedule, at=at)
            fired += 1
        return fired

    def fire(self, schedule: Schedule, *, at: datetime | None = None) -> None:
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._stack.account_id,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._stack.region,
            "resources": [schedule.arn],
            "detail": {},
        }
        events = self._stack.endpoint.events()
        for target in schedule.targets:
            if target.queue_url is not None:
                body = target.input if target.input is not None else json.dumps(event)
                self._sqs.send_message(QueueUrl=target.queue_url, MessageBody=body)
            else:
                events.put_events(
                    Entries=[
                        {
                            "Source": "aws.events",
                            "DetailType": "Scheduled Event",
                            "Detail": target.input or "{}",
                            "Resources": [schedule.arn],
                            "Time": moment,
                            "EventBusName": target.arn,
                        }
                    ]
                )


def write_function_logs(runtimes: Mapping[str, FunctionRuntime], directory: Path) -> None:
    """Each function's captured log lines, one file per function (as its log group)."""
    directory.mkdir(parents=True, exist_ok=True)
    for runtime in runtimes.values():
        path = directory / f"{runtime.function.logical_id}.log"
        path.write_text("".join(f"{line}\n" for line in runtime.log), encoding="utf-8")
