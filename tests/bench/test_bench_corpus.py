"""The benchmark corpus: deterministic, in CloudTrail's layout, holding what it says."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import corpus as corpus_module
from bench.corpus import MANIFEST_NAME, Corpus, CorpusSpec, ensure_corpus, generate

TINY = CorpusSpec(
    records=3_000,
    seed=7,
    root_fraction=0.01,
    tamper_fraction=0.002,
    lookalike_fraction=0.005,
    min_file_records=200,
    max_file_records=800,
)
LOG_KEY = re.compile(
    r"AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/"
    r"(?P<date>\d{4}/\d{2}/\d{2})/(?P=account)_CloudTrail_(?P=region)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz"
)
TAMPER_NAMES = {"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"}


def read_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def is_root_activity(record: dict[str, Any]) -> bool:
    """Design §2, written out independently of rootwatch.detection."""
    identity = record.get("userIdentity") or {}
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    return (
        identity.get("type") == "Root"
        or (identity.get("type") == "FederatedUser" and issuer.get("type") == "Root")
        or record.get("eventName")
        in {"PasswordRecoveryRequested", "PasswordRecoveryCompleted", "AssumeRoot"}
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return ensure_corpus(TINY, tmp_path_factory.mktemp("corpus"))


def test_the_same_spec_gives_the_same_files_and_records(tmp_path: Path, tiny: Corpus) -> None:
    again = ensure_corpus(TINY, tmp_path)
    names = [path.relative_to(tiny.directory) for path in tiny.files]
    assert [path.relative_to(again.directory) for path in again.files] == names
    for first, second in zip(tiny.files, again.files, strict=True):
        assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes())


def test_another_seed_gives_other_records(tmp_path: Path, tiny: Corpus) -> None:
    other = ensure_corpus(replace(TINY, seed=8), tmp_path)
    first_ids = {record["eventID"] for record in read_records(tiny.files[0])}
    other_ids = {record["eventID"] for record in read_records(other.files[0])}
    assert first_ids.isdisjoint(other_ids)


def test_files_follow_cloudtrails_s3_layout_and_hold_their_account_and_region(
    tiny: Corpus,
) -> None:
    for path in tiny.files:
        key = LOG_KEY.fullmatch(path.relative_to(tiny.directory).as_posix())
        assert key is not None, path
        delivered = datetime.strptime(key["stamp"], "%Y%m%dT%H%MZ")
        assert delivered.strftime("%Y/%m/%d") == key["date"]
        for record in read_records(path):
            assert record["recipientAccountId"] == key["account"]
            assert record["awsRegion"] == key["region"]
            event_time = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
            # Events precede their file's delivery by at most ten minutes.
            assert (
                delivered - timedelta(minutes=11) <= event_time <= delivered + timedelta(minutes=1)
            )


def test_file_sizes_stay_within_the_spec(tiny: Corpus) -> None:
    sizes = [len(read_records(path)) for path in tiny.files]
    assert sum(sizes) == tiny.records == TINY.records
    # Only the last file may be smaller: it holds what is left.
    assert all(TINY.min_file_records <= size <= TINY.max_file_records for size in sizes[:-1])
    assert 1 <= sizes[-1] <= TINY.max_file_records


def test_the_manifest_counts_what_the_files_hold(tiny: Corpus) -> None:
    records = [record for path in tiny.files for record in read_records(path)]
    root = [record for record in records if is_root_activity(record)]
    tamper_by_others = [
        record
        for record in records
        if record["eventName"] in TAMPER_NAMES and not is_root_activity(record)
    ]
    assert len(root) == tiny.root_records == round(TINY.records * TINY.root_fraction)
    assert all(record["userIdentity"]["type"] == "Root" for record in root)
    assert len(tamper_by_others) == tiny.tamper_by_others == 6
    assert tiny.scan_events == len(root) + len(tamper_by_others)
    assert sum(tiny.root_by_kind.values()) == tiny.root_records
    assert len({record["eventID"] for record in records}) == len(records)


def test_lookalikes_carry_root_strings_but_are_not_root(tiny: Corpus) -> None:
    records = [record for path in tiny.files for record in read_records(path)]
    lookalikes = [
        record
        for record in records
        if not is_root_activity(record) and "root" in orjson.dumps(record["userIdentity"]).decode()
    ]
    assert len(lookalikes) == tiny.lookalikes == 15
    kinds = {record["userIdentity"]["type"] for record in lookalikes}
    assert kinds <= {"IAMUser", "AssumedRole", "AWSAccount", "FederatedUser"}
    assert len(kinds) >= 3


def test_root_activity_mixes_console_logins_and_api_calls(tmp_path: Path) -> None:
    corpus = ensure_corpus(replace(TINY, root_fraction=0.1), tmp_path)
    kinds = Counter(corpus.root_by_kind)
    assert {"console-login-mfa", "console-login-failed", "api-read", "api-write"} <= set(kinds)
    records = [record for path in corpus.files for record in read_records(path)]
    logins = [
        record
        for record in records
        if record["eventName"] == "ConsoleLogin" and record["userIdentity"]["type"] == "Root"
    ]
    assert logins
    assert all(record["awsRegion"] == "us-east-1" for record in logins)
    assert all(record["eventType"] == "AwsConsoleSignIn" for record in logins)


def test_records_have_the_size_of_real_ones(tiny: Corpus) -> None:
    sizes = [len(orjson.dumps(record)) for path in tiny.files for record in read_records(path)]
    assert 1_000 <= sum(sizes) / len(sizes) <= 3_000
    assert tiny.json_bytes > sum(sizes)  # plus the {"Records": [...]} around them
    assert tiny.gzip_bytes == sum(path.stat().st_size for path in tiny.files)


def test_a_cached_corpus_is_not_generated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_corpus(TINY, tmp_path)

    def refuse(*_: object) -> None:
        raise AssertionError("the cached corpus was generated again")

    monkeypatch.setattr(corpus_module, "generate", refuse)
    assert ensure_corpus(TINY, tmp_path) == first


def test_a_stale_or_incomplete_corpus_is_generated_again(tmp_path: Path) -> None:
    first = ensure_corpus(TINY, tmp_path)
    first.files[0].unlink()
    assert ensure_corpus(TINY, tmp_path).files[0].is_file()

    manifest_path = first.directory / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["generator_version"] = -1
    manifest_path.write_text(json.dumps(manifest))
    regenerated = ensure_corpus(TINY, tmp_path)
    assert json.loads(manifest_path.read_text())["generator_version"] != -1
    assert regenerated.records == TINY.records


def test_the_cache_key_names_every_parameter() -> None:
    changes: list[dict[str, Any]] = [
        {"records": 3_001},
        {"seed": 9},
        {"root_fraction": 0.02},
        {"tamper_fraction": 0.003},
        {"lookalike_fraction": 0.006},
        {"min_file_records": 201},
        {"max_file_records": 801},
    ]
    keys = {replace(TINY, **change).key for change in changes}
    assert len(keys | {TINY.key}) == 8


@pytest.mark.parametrize(
    "changes",
    [
        {"records": 0},
        {"min_file_records": 0},
        {"min_file_records": 900},
        {"root_fraction": -0.1},
        {"root_fraction": 0.6, "lookalike_fraction": 0.6},
    ],
)
def test_impossible_specs_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(TINY, **changes)


def test_generate_writes_into_the_given_directory(tmp_path: Path) -> None:
    generate(CorpusSpec(records=50, min_file_records=20, max_file_records=30), tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["records"] == 50
    assert all((tmp_path / name).is_file() for name in manifest["files"])
