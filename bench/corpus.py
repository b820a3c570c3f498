"""A synthetic CloudTrail corpus: gzipped log files in the S3 layout CloudTrail writes.

The corpus is a deterministic function of its `CorpusSpec` (same spec, same records) and
is cached under a directory named after the spec, so reruns measure identical input
without regenerating it. The manifest beside the files says how many records of each
kind the corpus holds, so a benchmark can check that every tool selected what it should.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import string
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bench.records import REGION_WEIGHTS, REGIONS, Account, Record, RecordFactory, Where

# Bump when records or layout change, so cached corpora are regenerated.
GENERATOR_VERSION = 1
MANIFEST_NAME = "manifest.json"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent / ".corpus"

_CORPUS_START = datetime(2026, 11, 2, tzinfo=UTC)
# CloudTrail delivers a file about every five minutes per account and region, holding
# events from the minutes before.
_DELIVERY_INTERVAL_SECONDS = 300.0
_EVENT_LAG_SECONDS = 600.0
_FILE_SUFFIX_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """What to generate; every field takes part in the cache key."""

    records: int
    seed: int = 1
    root_fraction: float = 0.001
    tamper_fraction: float = 0.00002
    lookalike_fraction: float = 0.0002
    min_file_records: int = 1000
    max_file_records: int = 5000

    def __post_init__(self) -> None:
        if self.records < 1:
            raise ValueError("a corpus needs at least one record")
        if not 1 <= self.min_file_records <= self.max_file_records:
            raise ValueError("file sizes need 1 <= min_file_records <= max_file_records")
        fractions = (self.root_fraction, self.tamper_fraction, self.lookalike_fraction)
        if min(fractions) < 0 or sum(fractions) > 1:
            raise ValueError("special fractions must be non-negative and add up to at most 1")

    @property
    def key(self) -> str:
        return (
            f"v{GENERATOR_VERSION}-r{self.records}-s{self.seed}"
            f"-root{self.root_fraction:g}-tamper{self.tamper_fraction:g}"
            f"-like{self.lookalike_fraction:g}-f{self.min_file_records}-{self.max_file_records}"
        )


@dataclass(frozen=True, slots=True)
class Corpus:
    """A corpus on disk and what it holds."""

    directory: Path
    files: tuple[Path, ...]
    records: int
    root_records: int  # userIdentity.type == "Root"
    tamper_by_others: int
    lookalikes: int
    json_bytes: int
    gzip_bytes: int
    root_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def scan_events(self) -> int:
        """What `rootwatch scan` prints: root activity plus tamper events by others."""
        return self.root_records + self.tamper_by_others


def ensure_corpus(
    spec: CorpusSpec,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: Callable[[str], None] | None = None,
) -> Corpus:
    """The corpus for `spec` from the cache, generated first when it is not there."""
    directory = cache_dir / spec.key
    cached = load_corpus(directory)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Generated beside its final place and renamed, so an interrupted run leaves nothing
    # that a later run would take for a complete corpus.
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.key}-", dir=cache_dir))
    try:
        generate(spec, staging, progress)
        if load_corpus(directory) is None:  # unless a concurrent run finished it first
            shutil.rmtree(directory, ignore_errors=True)
            staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    corpus = load_corpus(directory)
    if corpus is None:
        raise RuntimeError(f"the corpus generated in {directory} has no readable manifest")
    return corpus


def load_corpus(directory: Path) -> Corpus | None:
    """The corpus described by `directory`'s manifest; None when absent, stale or partial."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("generator_version") != GENERATOR_VERSION:
        return None
    files = tuple(directory / name for name in manifest["files"])
    if not all(path.is_file() for path in files):
        return None
    return Corpus(
        directory=directory,
        files=files,
        records=manifest["records"],
        root_records=manifest["root_records"],
        tamper_by_others=manifest["tamper_by_others"],
        lookalikes=manifest["lookalikes"],
        json_bytes=manifest["json_bytes"],
        gzip_bytes=manifest["gzip_bytes"],
        root_by_kind=manifest["root_by_kind"],
    )


def generate(
    spec: CorpusSpec, directory: Path, progress: Callable[[str], None] | None = None
) -> None:
    """Writes the log files for `spec` and their manifest into `directory`."""
    factory = RecordFactory(random.Random(spec.seed))
    layout = random.Random(f"{spec.seed}/layout")
    special_at = _special_positions(spec, layout)
    kinds: Counter[str] = Counter()
    root_by_kind: Counter[str] = Counter()
    names: list[str] = []
    json_bytes = gzip_bytes = 0
    position = 0
    for size, account, region, delivered in _delivery_plan(spec, factory.accounts, layout):
        records: list[Record] = []
        for _ in range(size):
            lag = timedelta(seconds=layout.uniform(0, _EVENT_LAG_SECONDS))
            where = Where(account, region, delivered - lag)
            kind = special_at.get(position, "background")
            position += 1
            kinds[kind] += 1
            if kind == "root":
                root_kind, record = factory.root(where)
                root_by_kind[root_kind] += 1
            elif kind == "tamper":
                record = factory.tamper_by_other(where)
            elif kind == "lookalike":
                record = factory.lookalike(where)
            else:
                record = factory.background(where)
            records.append(record)
        document = orjson.dumps({"Records": records})
        compressed = gzip.compress(document, compresslevel=6, mtime=0)
        name = log_file_name(account.account_id, region, delivered, layout)
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(compressed)
        names.append(name)
        json_bytes += len(document)
        gzip_bytes += len(compressed)
        if progress is not None and len(names) % 25 == 0:
            progress(f"generated {position:,} of {spec.records:,} records")

    manifest = {
        "generator_version": GENERATOR_VERSION,
        "spec": {spec_field.name: getattr(spec, spec_field.name) for spec_field in fields(spec)},
        "records": position,
        "root_records": kinds["root"],
        "tamper_by_others": kinds["tamper"],
        "lookalikes": kinds["lookalike"],
        "root_by_kind": dict(sorted(root_by_kind.items())),
        "json_bytes": json_bytes,
        "gzip_bytes": gzip_bytes,
        "files": names,
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def log_file_name(account_id: str, region: str, delivered: datetime, rng: random.Random) -> str:
    """The object key CloudTrail gives a log file (without an organization trail's ID)."""
    suffix = "".join(rng.choices(_FILE_SUFFIX_ALPHABET, k=16))
    return (
        f"AWSLogs/{account_id}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{account_id}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def _special_positions(spec: CorpusSpec, rng: random.Random) -> dict[int, str]:
    """Which record positions hold root, tamper and look-alike records."""
    counts = {
        "root": round(spec.records * spec.root_fraction),
        "tamper": round(spec.records * spec.tamper_fraction),
        "lookalike": round(spec.records * spec.lookalike_fraction),
    }
    positions = iter(rng.sample(range(spec.records), sum(counts.values())))
    return {next(positions): kind for kind, count in counts.items() for _ in range(count)}


def _delivery_plan(
    spec: CorpusSpec, accounts: list[Account], rng: random.Random
) -> Iterator[tuple[int, Account, str, datetime]]:
    """(records, account, region, delivery time) of each log file, in delivery order."""
    remaining = spec.records
    delivered = _CORPUS_START
    activity = [account.activity for account in accounts]
    while remaining > 0:
        size = min(remaining, rng.randint(spec.min_file_records, spec.max_file_records))
        remaining -= size
        account = rng.choices(accounts, activity)[0]
        region = rng.choices(REGIONS, REGION_WEIGHTS)[0]
        delivered += timedelta(seconds=rng.uniform(0, _DELIVERY_INTERVAL_SECONDS))
        yield size, account, region, delivered
