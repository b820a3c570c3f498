"""The hub benchmark's harness: the call counter, the burst, import timing, goals and ratios."""

from __future__ import annotations

import argparse
import itertools
import re
import textwrap
import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from rootwatch import detection
from rootwatch.reader import parse_event

import bench.__main__ as bench_main
from bench import hub
from bench.burst import BurstSpec, generate_burst
from bench.calls import OUTSIDE, ApiCallCounter, CallCounts, current_caller
from bench.imports import (
    Handler,
    ImportMeasurementError,
    ImportPair,
    ImportSample,
    ImportTimes,
    direct_imports,
    distribution_closure,
    heaviest_imports,
    lambda_environment,
    lambda_layout,
    parse_importtime,
    requirement_lines,
    time_import,
)
from bench.report import exit_status

# --- the call counter --------------------------------------------------------------------------


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1")


@mock_aws
def test_counter_counts_each_call_by_caller_and_operation(session: boto3.Session) -> None:
    counter = ApiCallCounter()
    counter.attach(session.events)
    dynamodb = session.client("dynamodb")
    sqs = session.client("sqs")
    with counter.calls_by("processor"):
        dynamodb.list_tables()
        dynamodb.list_tables()
        sqs.create_queue(QueueName="notify")
    with counter.calls_by("notifier"):
        sqs.list_queues()
    dynamodb.list_tables()

    assert counter.counts("processor") == CallCounts(
        {"DynamoDB ListTables": 2, "SQS CreateQueue": 1}
    )
    assert counter.counts("notifier").by_operation == {"SQS ListQueues": 1}
    assert counter.counts(OUTSIDE).total == 1
    assert counter.callers() == {"processor", "notifier", OUTSIDE}


@mock_aws
def test_a_failed_call_is_still_a_call(session: boto3.Session) -> None:
    counter = ApiCallCounter()
    counter.attach(session.events)
    dynamodb = session.client("dynamodb")
    missing = dynamodb.exceptions.ResourceNotFoundException
    with counter.calls_by("processor"), pytest.raises(missing):
        dynamodb.describe_table(TableName="missing")
    assert counter.counts("processor").by_operation == {"DynamoDB DescribeTable": 1}


@mock_aws
def test_counter_stops_when_detached_and_forgets_when_reset(session: boto3.Session) -> None:
    with ApiCallCounter() as counter:
        counter.attach(session.events)
        dynamodb = session.client("dynamodb")
        with counter.calls_by("processor"):
            dynamodb.list_tables()
        counter.reset()
        assert counter.counts("processor").total == 0
        with counter.calls_by("processor"):
            dynamodb.list_tables()
    with counter.calls_by("processor"):
        dynamodb.list_tables()
    assert counter.counts("processor").total == 1


@mock_aws
def test_clients_made_before_attaching_are_not_counted(session: boto3.Session) -> None:
    # Why the counter goes on the session before the functions make their clients.
    early = session.client("dynamodb")
    counter = ApiCallCounter()
    counter.attach(session.events)
    with counter.calls_by("processor"):
        early.list_tables()
        session.client("dynamodb").list_tables()
    assert counter.counts("processor").total == 1


@mock_aws
def test_calls_from_another_thread_are_not_put_down_to_the_caller(
    session: boto3.Session,
) -> None:
    counter = ApiCallCounter()
    counter.attach(session.events)
    dynamodb = session.client("dynamodb")
    with counter.calls_by("processor"):
        worker = threading.Thread(target=dynamodb.list_tables)
        worker.start()
        worker.join()
    assert counter.counts("processor").total == 0
    assert counter.counts(OUTSIDE).total == 1


def test_calls_per_event() -> None:
    counts = CallCounts({"DynamoDB PutItem": 200, "DynamoDB Query": 40, "SQS SendMessageBatch": 6})
    assert counts.total == 246
    assert counts.per(200) == pytest.approx(1.23)
    assert CallCounts({}).per(0) == 0.0


def test_a_handler_clock_times_invocations_and_names_their_caller() -> None:
    counter = ApiCallCounter()
    clock = hub.HandlerClock(counter)
    seen: list[str] = []

    class Runtime:
        class function:  # the shape of FunctionRuntime.function
            code_dir = Path("functions/processor")

        def invoke(self, event: object) -> object:
            seen.append(current_caller())
            if event == "fail":
                raise RuntimeError("handler failed")
            return {"batchItemFailures": []}

    runtime = Runtime()
    clock.instrument([runtime])  # type: ignore[list-item]
    assert runtime.invoke("ok") == {"batchItemFailures": []}
    with pytest.raises(RuntimeError):
        runtime.invoke("fail")
    assert seen == ["processor", "processor"]
    assert clock.invocations == {"processor": 2}
    assert clock.seconds["processor"] > 0


# --- the burst ---------------------------------------------------------------------------------


def test_burst_is_root_activity_from_its_sessions_oldest_first() -> None:
    burst = generate_burst(BurstSpec(events=600, seed=4))
    records = burst.records
    assert len(records) == 600
    assert len({record["eventID"] for record in records}) == 600
    times = [record["eventTime"] for record in records]
    assert times == sorted(times)
    assert {record["recipientAccountId"] for record in records} == set(burst.accounts)
    actors = {(record["recipientAccountId"], record["sourceIPAddress"]) for record in records}
    assert len(actors) == len(burst.sessions) == 6
    kinds = burst.kinds
    assert kinds["read"] > 3 * (kinds["write"] + burst.critical)
    assert burst.critical >= 1
    severities = []
    for record in records:
        classification = detection.classify(parse_event(record))
        assert classification is not None, record["eventName"]
        severities.append(classification.severity.label)
    assert severities.count("critical") == burst.critical
    # Interleaved: consecutive records mostly come from different sessions' streams.
    changes = sum(
        1
        for before, after in itertools.pairwise(records)
        if before["sourceIPAddress"] != after["sourceIPAddress"]
    )
    assert changes > len(records) // 4


def test_burst_is_fixed_by_its_seed() -> None:
    spec = BurstSpec(events=120, seed=9)
    assert generate_burst(spec).records == generate_burst(spec).records
    assert generate_burst(spec).records != generate_burst(BurstSpec(events=120, seed=10)).records


def test_bursts_with_other_offsets_share_no_account() -> None:
    first = generate_burst(BurstSpec(events=50, accounts=4))
    other = generate_burst(BurstSpec(events=50, accounts=2, account_offset=4))
    assert not set(first.accounts) & set(other.accounts)
    assert all(len(account) == 12 for account in first.accounts + other.accounts)


def test_burst_needs_an_event_per_session() -> None:
    with pytest.raises(ValueError, match="cannot make"):
        generate_burst(BurstSpec(events=3, sessions=6))


# --- imports -----------------------------------------------------------------------------------

IMPORTTIME = textwrap.dedent(
    """\
    import time: self [us] | cumulative | imported package
    import time:       120 |        120 |   _codecs
    import time:       900 |       1020 | encodings
    import time:        50 |         50 |     json.decoder
    import time:       300 |        350 |   json
    import time:      1000 |       1000 |   boto3
    import time:       400 |        400 |     rootwatch.model
    import time:      2000 |       2400 |   rootwatch.alerts
    import time:       500 |       4250 | app
    """
)


def test_importtime_lines_are_read_with_their_depth() -> None:
    costs = parse_importtime("noise\n" + IMPORTTIME)
    assert [(cost.module, cost.depth) for cost in costs][:3] == [
        ("_codecs", 1),
        ("encodings", 0),
        ("json.decoder", 2),
    ]
    assert costs[-1].cumulative_us == 4250


def test_direct_imports_are_those_one_level_below_the_module() -> None:
    costs = parse_importtime(IMPORTTIME)
    assert [cost.module for cost in direct_imports(costs, "app")] == [
        "json",
        "boto3",
        "rootwatch.alerts",
    ]
    assert direct_imports(costs, "missing") == []


def test_heaviest_imports_leave_out_the_baseline() -> None:
    costs = parse_importtime(IMPORTTIME)
    heaviest = heaviest_imports(costs, "app", leave_out=["boto3", "json"])
    assert [(cost.module, cost.cumulative_us) for cost in heaviest] == [("rootwatch.alerts", 2400)]


def test_layer_closure_follows_extras_and_leaves_out_optional_ones() -> None:
    names = {
        distribution.metadata["Name"].lower().replace("_", "-")
        for distribution in distribution_closure(
            ["aws-lambda-powertools[tracer]>=3.0", "boto3>=1.35"]
        )
    }
    assert {"aws-lambda-powertools", "aws-xray-sdk", "wrapt", "boto3", "botocore"} <= names
    # Extras the layer does not ask for.
    assert "awscrt" not in names
    assert "pydantic" not in names


def test_a_missing_distribution_cannot_be_measured() -> None:
    with pytest.raises(ImportMeasurementError, match="not installed"):
        distribution_closure(["no-such-distribution-rootwatch"])


def test_requirement_lines_are_the_runtimes_and_the_layers_without_comments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# the layer\njmespath>=1.0  # powertools\n\nwrapt>=1.17\n")
    assert requirement_lines(path) == ["boto3", "jmespath>=1.0", "wrapt>=1.17"]


def test_lambda_environment_is_the_functions_plus_the_runtimes() -> None:
    environment = lambda_environment(
        {
            "TABLE_NAME": "audit",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        },
        Path("/var/task"),
        "app.lambda_handler",
    )
    assert environment["TABLE_NAME"] == "audit"
    assert environment["LAMBDA_TASK_ROOT"] == "/var/task"
    assert environment["_HANDLER"] == "app.lambda_handler"
    assert environment["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert "POWERTOOLS_TRACE_DISABLED" not in environment
    assert "AWS_ENDPOINT_URL" not in environment


def _handler(directory: Path, source: str, **environment: str) -> Handler:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(source)
    return Handler("sample", directory, "app", {"LAMBDA_TASK_ROOT": str(directory), **environment})


def test_time_import_runs_a_fresh_interpreter_in_the_functions_environment(
    tmp_path: Path,
) -> None:
    source = textwrap.dedent(
        """\
        import os, sys
        assert os.getcwd() == os.environ["LAMBDA_TASK_ROOT"]
        assert os.environ["TABLE_NAME"] == "audit"
        assert sys.flags.no_site
        """
    )
    handler = _handler(tmp_path / "sample", source, TABLE_NAME="audit")
    sample = time_import(handler, "app", layer_path=[])
    assert sample.wall > 0
    assert sample.cpu > 0


LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"


def test_with_bytecode_functions_and_layer_are_used_in_place(tmp_path: Path) -> None:
    handler = _handler(tmp_path / "sample", "import rootwatch.keys\n")
    with lambda_layout(
        [handler], requirements=LAYER / "requirements.txt", layer_directory=LAYER
    ) as layout:
        assert layout.handlers == [handler]
        assert layout.layer_path[0] == LAYER
        site = layout.layer_path[1]
        assert (site / "boto3").is_symlink()
        assert not (site / "awscrt").exists()
        assert time_import(handler, "app", layer_path=layout.layer_path).wall > 0


def test_without_bytecode_every_import_compiles_from_source(tmp_path: Path) -> None:
    handler = _handler(tmp_path / "sample", "import rootwatch.keys\nimport boto3\n")
    (tmp_path / "sample" / "__pycache__").mkdir()
    (tmp_path / "sample" / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"stale")
    with lambda_layout(
        [handler],
        requirements=LAYER / "requirements.txt",
        layer_directory=LAYER,
        bytecode=False,
    ) as layout:
        (mirrored,) = layout.handlers
        assert mirrored.name == "sample"
        assert mirrored.environment["PYTHONDONTWRITEBYTECODE"] == "1"
        assert mirrored.environment["LAMBDA_TASK_ROOT"] == str(mirrored.directory)
        assert (mirrored.directory / "app.py").is_symlink()
        (layer,) = layout.layer_path
        assert (layer / "rootwatch" / "keys.py").is_symlink()
        assert (layer / "botocore" / "client.py").is_symlink()
        time_import(mirrored, "app", layer_path=layout.layer_path)
        everything = [*mirrored.directory.rglob("*"), *layer.rglob("*")]
        assert not [path for path in everything if path.name == "__pycache__"]


def test_a_module_that_fails_to_import_is_an_error(tmp_path: Path) -> None:
    handler = _handler(tmp_path / "sample", "import boto3\n")
    # -S: nothing installed is importable unless the layer path holds it.
    with pytest.raises(ImportMeasurementError, match="boto3"):
        time_import(handler, "app", layer_path=[])


# --- goals and dispatch ------------------------------------------------------------------------


def _pass(events: int, calls: dict[str, int]) -> hub.Pass:
    return hub.Pass(
        events=events,
        seconds=1.0,
        put_seconds=0.1,
        handler_seconds={"processor": 0.5},
        invocations={"processor": events // 10},
        calls={"processor": CallCounts(calls)},
        slack_posts=0,
        emails=0,
    )


def _pipeline(unique_calls: int, duplicate_calls: int, events: int = 100) -> hub.Pipeline:
    return hub.Pipeline(
        burst=_pass(events, {"DynamoDB PutItem": unique_calls}),
        replay=_pass(events, {"DynamoDB PutItem": duplicate_calls}),
        stored=events,
        incidents=3,
    )


def test_call_goals_hold_at_their_limits_and_fail_beyond() -> None:
    at_limits = hub.evaluate(_pipeline(300, 100), None)
    assert [goal.holds for goal in at_limits] == [True, True]
    beyond = hub.evaluate(_pipeline(301, 101), None)
    assert [goal.holds for goal in beyond] == [False, False]
    assert [goal.measured for goal in beyond] == ["3.01", "1.01"]
    assert exit_status(beyond) == 1
    assert exit_status(at_limits) == 0


def rounds(*ratios: float, baseline: float = 0.2) -> list[ImportPair]:
    """Rounds whose handler took `ratio` times `import boto3` (CPU: half the wall clock)."""
    return [
        ImportPair(
            baseline=ImportSample(wall=baseline, cpu=baseline / 2),
            handler=ImportSample(wall=baseline * ratio, cpu=baseline * ratio / 4),
        )
        for ratio in ratios
    ]


def test_import_goal_is_the_median_ratio_to_boto3() -> None:
    times = ImportTimes(
        pairs={
            "processor": rounds(1.49, 1.4, 1.6, 9.0, 1.45),
            "notifier": rounds(1.503, 1.2, 1.6),
            "heartbeat": rounds(1.1, 1.1, 0.5),
        },
        runs=3,
    )
    goals = {goal.description.split()[0]: goal for goal in hub.evaluate(None, times)}
    # One slow round does not move the median.
    assert goals["processor"].holds is True
    assert goals["processor"].measured == "1.49x"
    assert goals["heartbeat"].measured == "1.10x"
    # Shown with the decimals it takes to see why it failed.
    assert goals["notifier"].holds is False
    assert goals["notifier"].measured == "1.503x"
    # CPU time is shown, the wall clock is judged.
    assert times.cpu_ratio("heartbeat") == pytest.approx(0.55)


def test_each_round_is_judged_against_its_own_baseline() -> None:
    # The machine got twice as fast halfway: the ratio of the two best runs would say 0.75.
    slow = rounds(1.5, 1.5, baseline=0.2)
    fast = rounds(1.5, 1.5, baseline=0.1)
    times = ImportTimes(pairs={"processor": [*slow, *fast]}, runs=4)
    assert times.ratio("processor") == pytest.approx(1.5)
    assert times.baseline().wall == pytest.approx(0.15)
    assert times.time("processor").wall == pytest.approx(0.225)


def test_the_import_table_shows_medians_and_median_ratios() -> None:
    times = ImportTimes(pairs={"processor": rounds(1.5, 1.4, 1.6)}, runs=3)
    table = hub.format_imports(times)
    assert "(median of 3)" in table
    assert re.search(r"import boto3\s+200\s+1\.00\s+100\s+1\.00", table)
    assert re.search(r"functions/processor/app.py\s+300\s+1\.50\s+75\s+0\.75", table)


def test_hub_is_a_section_of_make_bench() -> None:
    sections = {section.NAME: section for section in bench_main.load_sections()}
    assert sections["hub"] is hub
    parser, _ = bench_main.build_parser(list(sections.values()))
    options = parser.parse_args(["hub", "--quick", "--only", "imports"])
    assert isinstance(options, argparse.Namespace)
    assert (options.section, options.quick, options.only) == ("hub", True, "imports")
