"""samconfig.toml: the `hub` and `spoke` environments name the right stacks and parameters."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from rootwatch import naming
from rootwatch.deploy.spokes import SPOKE_CONFIG_ENV
from rootwatch.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


def section(environment: str, command: str) -> dict[str, Any]:
    return dict(CONFIG[environment][command]["parameters"])


def overrides(environment: str) -> dict[str, str]:
    text = section(environment, "deploy").get("parameter_overrides", "")
    return dict(item.split("=", 1) for item in shlex.split(text))


def test_hub_environment_deploys_the_built_hub_stack() -> None:
    deploy = section("hub", "deploy")
    assert deploy["stack_name"] == "rootwatch-hub"
    assert "template_file" not in deploy  # the built template in .aws-sam/build
    assert section("hub", "build")["template_file"] == "template.yaml"
    assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} <= set(deploy["capabilities"].split())
    assert deploy["resolve_s3"] is True


def test_spoke_environment_deploys_the_spoke_template_without_a_bucket() -> None:
    deploy = section(SPOKE_CONFIG_ENV, "deploy")
    assert deploy["stack_name"] == naming.SPOKE_STACK_PREFIX
    assert deploy["template_file"] == "spoke/template.yaml"
    assert deploy["capabilities"].split() == ["CAPABILITY_NAMED_IAM"]
    assert deploy["resolve_s3"] is False
    assert deploy["confirm_changeset"] is False


@pytest.mark.parametrize(
    ("environment", "template"), [("hub", "template.yaml"), ("spoke", "spoke/template.yaml")]
)
def test_example_overrides_are_parameters_of_the_template(environment: str, template: str) -> None:
    declared = load_template(ROOT / template).parameters
    given = overrides(environment)
    assert given
    for name, value in given.items():
        assert name in declared, name
        assert str(declared[name].get("Default")) == value, f"{name} differs from its default"


def test_nothing_deploys_to_an_example_hub_or_example_senders() -> None:
    """Without the hub bus (spoke) or the senders (hub) on the command line, sam deploy
    fails instead of deploying somewhere that looks right."""
    assert "HubEventBusArn" not in overrides("spoke")
    assert not {"AllowedOrgIds", "AllowedAccountIds"} & set(overrides("hub"))


@pytest.mark.templates
@pytest.mark.parametrize("environment", ["hub", "spoke"])
def test_sam_validates_each_environment(environment: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sam"), "validate", "--config-env", environment],
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
