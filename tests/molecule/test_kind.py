"""molecule's kind scenario, for machines with a Docker engine and kind (the default scenario needs neither)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _docker_engine() -> str | None:
    """None when a Docker engine answers, else why not."""
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        return "no Docker engine answers `docker info`"
    if shutil.which("kind") is None:
        return "kind is not installed"
    return None


def test_molecule_kind_scenario():
    reason = _docker_engine()
    if reason:
        pytest.skip(f"molecule kind scenario needs Docker: {reason}")
    run = subprocess.run(
        ["molecule", "test", "-s", "kind"], cwd=REPO, capture_output=True, text=True, timeout=1800, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
