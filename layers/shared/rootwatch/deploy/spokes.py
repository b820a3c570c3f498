"""The spoke of one account in many regions: `sam deploy --config-env spoke` per region."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rootwatch import naming
from rootwatch.deploy.commands import CommandResult, CommandRunner
from rootwatch.deploy.parameters import SpokeParameters

SPOKE_CONFIG_ENV: Final = "spoke"
DEFAULT_SPOKE_STACK_NAME: Final = naming.SPOKE_STACK_PREFIX
SPOKE_TEMPLATE: Final = Path("spoke", "template.yaml")
SAM_CONFIG: Final = Path("samconfig.toml")

_ANSI_ESCAPE: Final = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SAM_OUTCOME_LINES: Final = ("Successfully created/updated stack", "No changes to deploy")


class ProjectNotFoundError(FileNotFoundError):
    """No directory holding samconfig.toml and spoke/template.yaml."""


@dataclass(frozen=True, slots=True)
class SamProject:
    """The checkout holding `samconfig.toml` and `spoke/template.yaml`."""

    root: Path

    @property
    def samconfig(self) -> Path:
        return self.root / SAM_CONFIG

    @property
    def spoke_template(self) -> Path:
        return self.root / SPOKE_TEMPLATE

    def is_complete(self) -> bool:
        return self.samconfig.is_file() and self.spoke_template.is_file()

    @classmethod
    def locate(cls, start: Path | None = None) -> SamProject:
        """The project at or above `start` (the working directory), else the checkout this
        package was installed from."""
        here = (start or Path.cwd()).resolve()
        package_checkout = Path(__file__).resolve().parents[4]
        for candidate in (here, *here.parents, package_checkout):
            project = cls(candidate)
            if project.is_complete():
                return project
        raise ProjectNotFoundError(
            f"no {SAM_CONFIG} with {SPOKE_TEMPLATE} at or above {here}: "
            "run this from the rootwatch checkout or pass --project-dir"
        )


def default_sam_executable() -> str:
    """The `sam` installed next to this Python (the project's virtualenv), else on PATH."""
    beside_python = Path(sys.executable).parent / "sam"
    return str(beside_python) if beside_python.is_file() else "sam"


class StackNameError(ValueError):
    """A spoke stack name that tamper detection would not watch."""


def check_spoke_stack_name(stack_name: str) -> None:
    if not stack_name.startswith(naming.SPOKE_STACK_PREFIX):
        raise StackNameError(
            f"the spoke stack name must start with {naming.SPOKE_STACK_PREFIX!r} "
            f"(tamper detection watches stacks by that name), not {stack_name!r}"
        )


@dataclass(frozen=True, slots=True)
class SpokeDeployment:
    """What every region's `sam deploy` shares."""

    project: SamProject
    parameters: SpokeParameters
    stack_name: str = DEFAULT_SPOKE_STACK_NAME
    profile: str | None = None
    endpoint_url: str | None = None
    sam_executable: str = "sam"

    def __post_init__(self) -> None:
        check_spoke_stack_name(self.stack_name)

    def command(self, region: str) -> list[str]:
        """The `sam deploy` command line for one region."""
        argv = [
            self.sam_executable,
            "deploy",
            "--config-file",
            str(self.project.samconfig),
            "--config-env",
            SPOKE_CONFIG_ENV,
            "--template-file",
            str(self.project.spoke_template),
            "--stack-name",
            self.stack_name,
            "--region",
            region,
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            *self.parameters.as_overrides(),
        ]
        if self.profile:
            argv += ["--profile", self.profile]
        return argv

    def environment(self) -> dict[str, str]:
        """Variables added to the command's environment (an endpoint, for a local stack)."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url} if self.endpoint_url else {}


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    region: str
    succeeded: bool
    summary: str


def summarize(result: CommandResult) -> str:
    """One line saying how a `sam deploy` ended: its error, or its final status."""
    lines = [_ANSI_ESCAPE.sub("", line).strip() for line in result.output.splitlines()]
    lines = [line for line in lines if line]
    if result.succeeded:
        for line in reversed(lines):
            if line.startswith(_SAM_OUTCOME_LINES):
                return line
        return lines[-1] if lines else "deployed"
    for line in reversed(lines):
        if line.startswith("Error"):
            return line
    last = lines[-1] if lines else "no output"
    return f"exit status {result.returncode}: {last}"


def deploy_spokes(
    deployment: SpokeDeployment,
    regions: Sequence[str],
    runner: CommandRunner,
    *,
    parallel: int = 1,
    on_outcome: Callable[[RegionOutcome], None] | None = None,
) -> list[RegionOutcome]:
    """Deploy the spoke in each region; every region is attempted whatever the others do.

    Returns the outcomes in the order of `regions`; `on_outcome` hears each one as it ends.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")

    def deploy(region: str) -> RegionOutcome:
        result = runner.run(
            deployment.command(region),
            cwd=deployment.project.root,
            environment=deployment.environment(),
        )
        return RegionOutcome(region=region, succeeded=result.succeeded, summary=summarize(result))

    outcomes: dict[str, RegionOutcome] = {}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(deploy, region) for region in regions]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.region] = outcome
            if on_outcome is not None:
                on_outcome(outcome)
    return [outcomes[region] for region in regions]
