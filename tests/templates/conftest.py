"""Fixtures of the template tests: the hub template, loaded once, and its `sam build`."""

from __future__ import annotations

import pytest
from cfn import HUB_TEMPLATE, Build
from rootwatch.local.template import Template, load_template

from tests.support.templates import REPO, run_tool


@pytest.fixture(scope="session")
def hub() -> Template:
    return load_template(HUB_TEMPLATE)


@pytest.fixture(scope="session")
def hub_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """`sam build` of the hub, run once per session into a temporary directory."""
    build_dir = tmp_path_factory.mktemp("sam-build") / "build"
    result = run_tool(
        "sam",
        "build",
        "--template-file",
        str(HUB_TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(build_dir.parent / "cache"),
        cwd=REPO,
    )
    return Build(result, build_dir)
