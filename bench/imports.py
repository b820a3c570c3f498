"""Import time of each Lambda handler module against `import boto3`, in fresh interpreters.

Lambda imports a handler's module once per cold start, so what the module imports and
does at import time is paid by every new container. Each measurement is one new Python
process that times a single `import` with `time.perf_counter()`, run as Lambda runs the
function:

- from the function's directory (`LAMBDA_TASK_ROOT`), with the function's environment
  and the variables Lambda sets (tracing active, as the template asks) and nothing else;
- with only the function, the layer's `rootwatch` package and the distributions the layer
  installs (`layers/shared/requirements.txt` and their dependencies) importable: Python
  runs with `-S` (no site-packages) and a directory of links to exactly those
  distributions, so packages that happen to be installed here (awscrt, pyOpenSSL, ...)
  and that Lambda does not have are not imported by either side.

The baseline, `import boto3`, runs in the same conditions, just before the handler in
each round, and the ratio judged is the median over the rounds of each pair's ratio: a
machine whose speed drifts (other work, frequency changes) slows both imports of a pair
alike, while a lone fast or slow run moves the median little. (The ratio of the two best
runs was tried first; on this shared machine it swung by 0.2 between runs of the bench,
as one lucky `import boto3` lowers the baseline of every handler.) Bytecode is compiled
beforehand by an unmeasured run of each.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BASELINE_MODULE: Final = "boto3"
# What the Lambda runtime sets besides the function's own variables (python3.13, X-Ray on).
LAMBDA_RUNTIME_ENVIRONMENT: Final = {
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
    "_AWS_XRAY_DAEMON_PORT": "2000",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
}
# Set by the local driver only: locally no X-Ray daemon runs and moto stands in for AWS.
LOCAL_ONLY_VARIABLES: Final = frozenset({"POWERTOOLS_TRACE_DISABLED", "AWS_ENDPOINT_URL"})
_TIMER: Final = (
    "import importlib, sys, time\n"
    "started, cpu_started = time.perf_counter(), time.process_time()\n"
    "importlib.import_module(sys.argv[1])\n"
    "wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started\n"
    "with open(sys.argv[2], 'w', encoding='utf-8') as result:\n"
    "    result.write(f'{wall!r} {cpu!r}')\n"
)


class ImportMeasurementError(Exception):
    """A module could not be imported as Lambda would import it."""


@dataclass(frozen=True, slots=True)
class Handler:
    """A function's handler module and how Lambda runs it."""

    name: str
    directory: Path
    module: str
    environment: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ImportSample:
    """One import's wall-clock time and its process's CPU time, in seconds."""

    wall: float
    cpu: float


@dataclass(frozen=True, slots=True)
class ImportPair:
    """One round for one handler: `import boto3`, then the handler's import, back to back."""

    baseline: ImportSample
    handler: ImportSample


@dataclass(frozen=True, slots=True)
class ImportTimes:
    """Each handler's rounds; its ratio to `import boto3` is the median of the rounds'."""

    pairs: Mapping[str, Sequence[ImportPair]]
    runs: int

    @property
    def handlers(self) -> list[str]:
        return list(self.pairs)

    def ratio(self, handler: str) -> float:
        """The median of the rounds' handler-to-boto3 ratios, wall clock: the judged figure."""
        return median(pair.handler.wall / pair.baseline.wall for pair in self.pairs[handler])

    def cpu_ratio(self, handler: str) -> float:
        """The same in CPU time, which other work on the machine disturbs less."""
        return median(pair.handler.cpu / pair.baseline.cpu for pair in self.pairs[handler])

    def time(self, handler: str) -> ImportSample:
        """The handler's median wall-clock and median CPU time."""
        return median_sample(pair.handler for pair in self.pairs[handler])

    def baseline(self) -> ImportSample:
        """`import boto3`'s median wall-clock and median CPU time over every round."""
        return median_sample(pair.baseline for pairs in self.pairs.values() for pair in pairs)


def median_sample(samples: Iterable[ImportSample]) -> ImportSample:
    """The median wall-clock time and the median CPU time among `samples`."""
    listed = list(samples)
    return ImportSample(
        wall=median(sample.wall for sample in listed), cpu=median(sample.cpu for sample in listed)
    )


@dataclass(frozen=True, slots=True)
class ImportCost:
    """One module's line of `python -X importtime`: its own and its cumulative microseconds."""

    module: str
    depth: int
    self_us: int
    cumulative_us: int


def lambda_environment(
    handler_environment: Mapping[str, str], task_root: Path, handler: str
) -> dict[str, str]:
    """The environment Lambda gives a function's process: its variables and the runtime's."""
    environment = {
        name: value
        for name, value in handler_environment.items()
        if name not in LOCAL_ONLY_VARIABLES
    }
    environment.update(LAMBDA_RUNTIME_ENVIRONMENT)
    environment["LAMBDA_TASK_ROOT"] = os.fspath(task_root)
    environment["_HANDLER"] = handler
    return environment


def distribution_closure(requirements: Iterable[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions that `pip install -r` of `requirements` would install."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in found:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as error:
            raise ImportMeasurementError(
                f"the layer needs {name}, which is not installed"
            ) from error
        found[key] = distribution
        for text in distribution.requires or []:
            dependency = Requirement(text)
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras or {""}
            ):
                pending.append(dependency)
    unique: dict[str, importlib.metadata.Distribution] = {}
    for distribution in found.values():
        unique.setdefault(canonicalize_name(distribution.metadata["Name"]), distribution)
    return [unique[name] for name in sorted(unique)]


# What the Lambda python3.13 runtime provides beside the layer.
RUNTIME_REQUIREMENTS: Final = ("boto3",)


def requirement_lines(path: Path) -> list[str]:
    """The layer's requirements (comments and blank lines left out), with the runtime's."""
    lines = list(RUNTIME_REQUIREMENTS)
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            lines.append(text)
    return lines


@contextmanager
def layer_site(requirements: Path) -> Iterator[Path]:
    """A directory holding links to exactly the distributions the layer installs."""
    distributions = distribution_closure(requirement_lines(requirements))
    with tempfile.TemporaryDirectory(prefix="rootwatch-layer-") as scratch:
        site = Path(scratch)
        for distribution in distributions:
            for entry in _top_level_entries(distribution):
                link = site / entry
                if not link.exists():
                    link.symlink_to(Path(str(distribution.locate_file(entry))))
        yield site


@dataclass(frozen=True, slots=True)
class LambdaLayout:
    """The handlers as Lambda finds them, and the layer's part of the import path."""

    handlers: list[Handler]
    layer_path: list[Path]


@contextmanager
def lambda_layout(
    handlers: Sequence[Handler],
    *,
    requirements: Path,
    layer_directory: Path,
    bytecode: bool = True,
) -> Iterator[LambdaLayout]:
    """Each function's directory and the layer (its package and distributions) to import from.

    With `bytecode`, the functions and the layer's package are used in place and the layer's
    distributions linked whole: imports use the bytecode compiled here. Without it, every
    source file is linked on its own, no `__pycache__` with it, and Python writes none, so
    each import compiles its modules from source, as in a function deployed by `sam build`,
    which ships no bytecode (and whose read-only file system keeps none it compiles).
    """
    if bytecode:
        with layer_site(requirements) as site:
            yield LambdaLayout(list(handlers), [layer_directory, site])
        return
    distributions = distribution_closure(requirement_lines(requirements))
    with tempfile.TemporaryDirectory(prefix="rootwatch-source-") as scratch:
        root = Path(scratch)
        layer = root / "opt" / "python"
        for distribution in distributions:
            for file in distribution.files or []:
                relative = Path(file)
                if relative.parts and relative.parts[0] not in ("..", "__pycache__"):
                    _link_source(Path(str(distribution.locate_file(file))), layer / relative)
        _mirror_sources(layer_directory, layer)
        mirrored = []
        for handler in handlers:
            task = root / "task" / handler.name
            _mirror_sources(handler.directory, task)
            environment = {
                **handler.environment,
                "LAMBDA_TASK_ROOT": os.fspath(task),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            mirrored.append(Handler(handler.name, task, handler.module, environment))
        yield LambdaLayout(mirrored, [layer])


def _mirror_sources(source: Path, target: Path) -> None:
    """Links every file under `source` into the same place under `target`, but bytecode."""
    for path in source.rglob("*"):
        if path.is_file() and "__pycache__" not in path.relative_to(source).parts:
            _link_source(path, target / path.relative_to(source))


def _link_source(path: Path, link: Path) -> None:
    if path.suffix == ".pyc" or link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(path)


def _top_level_entries(distribution: importlib.metadata.Distribution) -> set[str]:
    """The packages, modules and metadata directory a distribution put in site-packages."""
    entries = set()
    for file in distribution.files or []:
        parts = Path(file).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        entries.add(parts[0])
    return entries


def measure_imports(
    handlers: Sequence[Handler],
    *,
    layer_path: Sequence[Path],
    runs: int,
    python: str = sys.executable,
) -> ImportTimes:
    """`runs` rounds of `import boto3` then each handler's import, each in a new process."""
    pairs: dict[str, list[ImportPair]] = {handler.name: [] for handler in handlers}
    for handler in handlers:
        # Unmeasured: bytecode is written, the page cache is warm.
        time_import(handler, handler.module, layer_path=layer_path, python=python)
        time_import(handler, BASELINE_MODULE, layer_path=layer_path, python=python)
    for _ in range(runs):
        for handler in handlers:
            baseline = time_import(handler, BASELINE_MODULE, layer_path=layer_path, python=python)
            measured = time_import(handler, handler.module, layer_path=layer_path, python=python)
            pairs[handler.name].append(ImportPair(baseline=baseline, handler=measured))
    return ImportTimes(pairs=pairs, runs=runs)


def time_import(
    handler: Handler, module: str, *, layer_path: Sequence[Path], python: str = sys.executable
) -> ImportSample:
    """How long one fresh interpreter, run as Lambda runs `handler`, takes to import `module`."""
    with tempfile.TemporaryDirectory(prefix="rootwatch-import-") as scratch:
        result = Path(scratch) / "seconds"
        _run(handler, [python, "-S", "-c", _TIMER, module, os.fspath(result)], layer_path)
        wall, cpu = result.read_text(encoding="utf-8").split()
        return ImportSample(wall=float(wall), cpu=float(cpu))


def import_costs(
    handler: Handler, module: str, *, layer_path: Sequence[Path], python: str = sys.executable
) -> list[ImportCost]:
    """`python -X importtime` of `module` imported as Lambda imports `handler`'s module."""
    completed = _run(
        handler, [python, "-S", "-X", "importtime", "-c", f"import {module}"], layer_path
    )
    return parse_importtime(completed.stderr)


def parse_importtime(text: str) -> list[ImportCost]:
    """The lines of `-X importtime` output, in the order Python printed them."""
    costs = []
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        name = fields[2].rstrip()
        indent = len(name) - len(name.lstrip(" "))
        costs.append(
            ImportCost(
                module=name.strip(),
                depth=indent // 2,
                self_us=int(fields[0]),
                cumulative_us=int(fields[1]),
            )
        )
    return costs


def direct_imports(costs: Sequence[ImportCost], module: str) -> list[ImportCost]:
    """The modules `module` imported itself (first), from `-X importtime` lines of a run."""
    # A module's line comes after the lines of everything it imported, one level deeper.
    position = next(
        (index for index, cost in enumerate(costs) if cost.module == module and cost.depth == 0),
        None,
    )
    if position is None:
        return []
    direct = []
    for cost in reversed(costs[:position]):
        if cost.depth == 0:
            break
        if cost.depth == 1:
            direct.append(cost)
    return direct[::-1]


def heaviest_imports(
    costs: Sequence[ImportCost],
    module: str,
    *,
    leave_out: Iterable[str] = (),
    limit: int = 8,
) -> list[ImportCost]:
    """The costliest direct imports of `module`, but for the modules in `leave_out`."""
    left_out = set(leave_out)
    added = [cost for cost in direct_imports(costs, module) if cost.module not in left_out]
    return sorted(added, key=lambda cost: cost.cumulative_us, reverse=True)[:limit]


def _run(
    handler: Handler, command: Sequence[str], layer_path: Sequence[Path]
) -> subprocess.CompletedProcess[str]:
    environment = dict(handler.environment)
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.fspath(handler.directory), *(os.fspath(entry) for entry in layer_path)]
    )
    completed = subprocess.run(
        list(command),
        cwd=handler.directory,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise ImportMeasurementError(f"{handler.name}: {command[-3:]} failed: {last}")
    return completed
