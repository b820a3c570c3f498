"""Finding jq, and installing it where this machine allows it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

INSTALL_HINT = "install it with `apt-get install jq` (or your system's package manager)"


def find_jq(say: Callable[[str], None], *, install: bool = True) -> str | None:
    """The path of `jq`; when it is missing, installs it with apt-get if running as root."""
    found = shutil.which("jq")
    if found is not None:
        return found
    apt_get = shutil.which("apt-get")
    if not install or apt_get is None or os.geteuid() != 0:
        say(f"jq is not on PATH: {INSTALL_HINT}")
        return None
    say("jq is not on PATH; installing it with apt-get")
    installed = _apt_get(apt_get, "install", "-y", "jq") or (
        # A fresh machine has no package lists yet.
        _apt_get(apt_get, "update") and _apt_get(apt_get, "install", "-y", "jq")
    )
    if not installed:
        say(f"apt-get could not install jq: {INSTALL_HINT}")
        return None
    return shutil.which("jq")


def jq_version(jq: str) -> str:
    result = subprocess.run([jq, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "jq (unknown version)"


def _apt_get(apt_get: str, *arguments: str) -> bool:
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        [apt_get, "-q", *arguments],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0
