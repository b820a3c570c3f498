"""The benchmark harness: measuring processes, the floor, jq's selection, goals, dispatch."""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import textwrap
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

import bench.__main__ as bench_main
from bench import scan
from bench.corpus import Corpus, CorpusSpec, ensure_corpus
from bench.floor import fastest_parser, parse_all
from bench.jqtool import INSTALL_HINT, find_jq, jq_version
from bench.measure import ProcessTreeMemory, count_lines, run_measured
from bench.report import Goal, Row, exit_status, format_goals, format_rows

PYTHON = sys.executable
SMALL = CorpusSpec(
    records=4_000, seed=3, root_fraction=0.005, tamper_fraction=0.001, lookalike_fraction=0.005
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="module")
def small(cache_dir: Path) -> Corpus:
    return ensure_corpus(SMALL, cache_dir)


def test_a_run_reports_the_peak_memory_of_the_measured_process(tmp_path: Path) -> None:
    allocate = "block = bytearray(80_000_000); block[::4096] = b'x' * len(block[::4096])"
    run = run_measured([[PYTHON, "-c", allocate]], stdout=tmp_path / "out", stderr=tmp_path / "err")
    assert run.succeeded
    assert run.peak_rss_bytes >= 80_000_000
    assert run.cpu_seconds > 0
    assert run.all_processes_rss_bytes is None or run.all_processes_rss_bytes > 0
    small = run_measured([[PYTHON, "-c", "pass"]], stdout=tmp_path / "out", stderr=tmp_path / "err")
    assert small.peak_rss_bytes < 80_000_000


WORKERS = """\
import subprocess, sys
hold = (
    "import sys; block = bytearray(60_000_000); block[::4096] = b'x' * len(block[::4096]); "
    "print('ready', flush=True); sys.stdin.read()"
)
workers = [
    subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for _ in range(2)
]
for worker in workers:
    worker.stdout.readline()
print("ready", flush=True)
sys.stdin.read()
for worker in workers:
    worker.stdin.close()
    worker.wait()
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_memory_is_summed_over_a_process_and_its_workers() -> None:
    parent = subprocess.Popen(
        [PYTHON, "-c", WORKERS], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert parent.stdin is not None and parent.stdout is not None
    try:
        assert parent.stdout.readline().strip() == b"ready"  # both workers hold their memory
        with ProcessTreeMemory([parent.pid]) as memory:
            pass  # the sampler takes one sample before it looks at being stopped
    finally:
        parent.stdin.close()
        parent.wait()
    assert memory.peak is not None
    assert memory.peak >= 120_000_000


ORPHANING = """\
import subprocess, sys
work = (
    "import sys, time; sum(range(20_000_000)); "
    "open(sys.argv[1], 'w').write(repr(time.process_time()))"
)
subprocess.Popen([sys.executable, "-c", work, sys.argv[1]])  # left running on exit
"""


@pytest.mark.skipif(sys.platform != "linux", reason="needs a child subreaper")
def test_processes_a_run_leaves_behind_are_waited_for_and_counted(tmp_path: Path) -> None:
    orphan_cpu = tmp_path / "orphan-cpu"
    run = run_measured(
        [[PYTHON, "-c", ORPHANING, str(orphan_cpu)]],
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
    )
    assert run.succeeded
    assert run.cpu_seconds >= float(orphan_cpu.read_text())


def test_a_pipeline_connects_its_commands_and_keeps_every_exit_code(tmp_path: Path) -> None:
    produce = "print('\\n'.join(str(n) for n in range(1000)))"
    keep_even = "import sys; [print(line, end='') for line in sys.stdin if int(line) % 2 == 0]"
    out, err = tmp_path / "out", tmp_path / "err"
    run = run_measured([[PYTHON, "-c", produce], [PYTHON, "-c", keep_even]], stdout=out, stderr=err)
    assert run.exit_codes == (0, 0)
    assert count_lines(out) == 500

    failing = run_measured(
        [[PYTHON, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]],
        stdout=out,
        stderr=err,
    )
    assert failing.exit_codes == (3,)
    assert not failing.succeeded
    assert err.read_text().strip() == "boom"


def test_the_floor_parses_every_record(small: Corpus, tmp_path: Path) -> None:
    assert parse_all(small.files) == small.records
    out = tmp_path / "out"
    run = run_measured(
        [[PYTHON, str(scan.FLOOR_SCRIPT), *map(str, small.files)]],
        stdout=out,
        stderr=tmp_path / "e",
    )
    assert run.succeeded
    assert int(out.read_text()) == small.records


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_jq_selects_exactly_the_root_records(small: Corpus, tmp_path: Path) -> None:
    files = [str(path) for path in small.files]
    out = tmp_path / "out"
    run = run_measured(
        [["gzip", "-dc", *files], ["jq", "-c", scan.JQ_FILTER]], stdout=out, stderr=tmp_path / "e"
    )
    assert run.succeeded
    assert count_lines(out) == small.root_records > 0


def installed_scan_unavailable() -> str | None:
    return scan._scan_unavailable(scan._installed_rootwatch())


@pytest.mark.skipif(installed_scan_unavailable() is not None, reason="rootwatch scan not there")
def test_the_installed_scan_prints_exactly_the_corpus_root_and_tamper_events(
    small: Corpus, tmp_path: Path
) -> None:
    expected_root, expected_tamper = set(), set()
    for path in small.files:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            if record["userIdentity"].get("type") == "Root":
                expected_root.add(record["eventID"])
            elif record["eventName"] in ("StopLogging", "UpdateTrail", "PutEventSelectors"):
                expected_tamper.add(record["eventID"])
    out = tmp_path / "out"
    command = [str(scan._installed_rootwatch()), "scan", str(small.directory / "AWSLogs")]
    run = run_measured([command], stdout=out, stderr=tmp_path / "err")
    assert run.succeeded
    printed = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {event["event_id"] for event in printed} == expected_root | expected_tamper
    assert small.lookalikes > 0  # and none of them was printed
    tampered = {event["event_id"] for event in printed if event["tamper"]}
    assert expected_tamper <= tampered


def row(tool: str, seconds: float, peak_mb: float, selected: int | None = None) -> Row:
    return Row(tool, 1_000_000, 300, seconds, seconds * 0.9, int(peak_mb * 1e6), selected)


def measured(
    small: Corpus,
    *,
    scan_seconds: float = 10,
    jq_seconds: float | None = 40,
    floor_seconds: float = 12,
    peak_mb: float = 90,
    half_peak_mb: float = 85,
    selected: int | None = None,
) -> scan.Measured:
    # Throughput is judged on corpora of the size the goals were set for.
    corpus = replace(small, records=scan.JUDGED_RECORDS)
    half = replace(small, records=small.records // 2)
    return scan.Measured(
        corpus=corpus,
        half=half,
        scan=row("scan", scan_seconds, peak_mb, selected or corpus.scan_events),
        scan_half=row("scan, half", scan_seconds / 2, half_peak_mb, half.scan_events),
        jq=None if jq_seconds is None else row("jq", jq_seconds, 20),
        floor=row("floor", floor_seconds, 80),
    )


def verdicts(goals: list[Goal]) -> list[bool | None]:
    return [goal.holds for goal in goals]


def test_goals_hold_when_scan_is_fast_lean_and_right(small: Corpus) -> None:
    goals = scan.evaluate(measured(small))
    assert verdicts(goals) == [True] * 5
    assert exit_status(goals) == 0


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({"jq_seconds": 29}, 1),  # scan only 2.9x jq
        ({"floor_seconds": 6.9}, 2),  # scan below 0.7x the floor
        ({"peak_mb": 300, "half_peak_mb": 300}, 3),  # at the memory ceiling
        ({"peak_mb": 120, "half_peak_mb": 90}, 4),  # memory grows with the corpus
        ({"selected": 1}, 0),  # selected the wrong events
    ],
)
def test_each_goal_fails_on_its_own(small: Corpus, changes: dict[str, Any], failed: int) -> None:
    goals = scan.evaluate(measured(small, **changes))
    assert [index for index, goal in enumerate(goals) if goal.holds is False] == [failed]
    assert exit_status(goals) == 1


def test_without_jq_that_goal_is_not_measured_and_does_not_fail(small: Corpus) -> None:
    goals = scan.evaluate(measured(small, jq_seconds=None))
    assert verdicts(goals) == [True, None, True, True, True]
    assert exit_status(goals) == 0
    assert "jq not run  not judged" in format_goals(goals)


def test_the_table_lines_up_every_column() -> None:
    table = format_rows([row("rootwatch scan", 10, 91.5, 520), row("floor", 12.5, 80)])
    header, first, second = table.splitlines()
    columns = "tool records files seconds CPU s records/s peak RSS selected"
    assert header.split() == columns.split()
    assert first.split() == [
        "rootwatch",
        "scan",
        "1,000,000",
        "300",
        "10.00",
        "9.00",
        "100,000",
        "91.5",
        "MB",
        "520",
    ]
    assert second.split()[-2:] == ["80.0", "MB"]
    assert len(first) == len(header)


STAND_IN = """\
import gzip, pathlib, sys
import orjson
# Prints root records, and the first {skip} fewer, as `rootwatch scan --output jsonl` would.
printed = 0
for path in sorted(pathlib.Path(sys.argv[2]).rglob("*.json.gz")):
    for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
        root = record["userIdentity"].get("type") == "Root"
        tamper = record["eventName"] in ("StopLogging", "UpdateTrail", "PutEventSelectors")
        if root or tamper:
            printed += 1
            if printed > {skip}:
                print(orjson.dumps({{"event_id": record["eventID"]}}).decode())
"""


def stand_in_rootwatch(tmp_path: Path, skip: int) -> Path:
    script = tmp_path / f"rootwatch-{skip}"
    script.write_text(f"#!{PYTHON}\n" + textwrap.dedent(STAND_IN.format(skip=skip)))
    script.chmod(0o755)
    return script


def scan_options(cache_dir: Path, rootwatch: Path) -> argparse.Namespace:
    return argparse.Namespace(
        records=SMALL.records,
        seed=SMALL.seed,
        quick=False,
        repeat=1,
        cache_dir=cache_dir,
        rootwatch=rootwatch,
    )


def test_the_scan_section_measures_every_tool_and_checks_what_scan_selected(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan.run(scan_options(cache_dir, stand_in_rootwatch(tmp_path, skip=0)))
    report = capsys.readouterr().out
    assert "rootwatch scan, half corpus" in report
    assert "floor: zlib + fastest parser" in report
    selection = next(line for line in report.splitlines() if line.startswith("scan selects"))
    assert selection.endswith("ok")


def test_a_scan_that_misses_events_fails_the_bench(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan.run(scan_options(cache_dir, stand_in_rootwatch(tmp_path, skip=1))) == 1
    selection = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("scan selects")
    )
    assert selection.endswith("FAILED")


def test_a_missing_scan_command_is_reported_and_exits_2(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan.run(scan_options(cache_dir, tmp_path / "no-such-rootwatch")) == 2
    assert "rootwatch scan cannot be measured" in capsys.readouterr().out


def test_all_runs_every_section_with_the_shared_options_and_its_own_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[argparse.Namespace] = []

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--depth", type=int, default=4)

    def run(options: argparse.Namespace) -> int:
        seen.append(options)
        return 1

    section = types.ModuleType("bench_stand_in_section")
    vars(section).update(
        NAME="stand-in", SUMMARY="records what it is given", add_arguments=add_arguments, run=run
    )
    monkeypatch.setitem(sys.modules, section.__name__, section)
    monkeypatch.setattr(bench_main, "SECTION_MODULES", (section.__name__,))

    assert bench_main.main(["--records", "7", "--quick"]) == 1
    assert bench_main.main(["stand-in", "--depth", "9"]) == 1
    assert bench_main.main([]) == 1
    first, second, third = seen
    assert (first.section, first.records, first.quick, first.depth) == ("stand-in", 7, True, 4)
    assert (second.records, second.quick, second.depth, second.seed) == (None, False, 9, 1)
    assert (third.records, third.repeat, third.depth) == (None, None, 4)


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main.main(["scan", "--records", "0"])
    assert exit_info.value.code == 2


def test_without_jq_the_way_to_install_it_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    said: list[str] = []
    assert find_jq(said.append, install=False) is None
    assert said == [f"jq is not on PATH: {INSTALL_HINT}"]
    assert "apt-get install jq" in INSTALL_HINT

    jq = tmp_path / "jq"
    jq.write_text("#!/bin/sh\necho jq-9.9\n")
    jq.chmod(0o755)
    assert find_jq(said.append, install=False) == str(jq)
    assert jq_version(str(jq)) == "jq-9.9"


def test_the_floor_takes_the_parser_that_parses_fastest() -> None:
    calls: list[str] = []

    def slow(data: bytes) -> object:
        calls.append("slow")
        deadline = time.process_time() + 0.01
        while time.process_time() < deadline:
            pass
        return {}

    def quick(data: bytes) -> object:
        calls.append("quick")
        return {}

    name, parser = fastest_parser(b"{}", {"slow": slow, "quick": quick})
    assert name == "quick"
    assert parser is quick
    assert calls.count("slow") == calls.count("quick") > 0
