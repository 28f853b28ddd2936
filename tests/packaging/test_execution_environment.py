"""The README's execution environment, built offline with ansible-builder: the context installs the collection and
its runtime Python needs, and none of the test tools; ansible-builder's own introspection of the installed collection
finds the same needs (from meta/execution-environment.yml).

`ansible-builder create` writes the build context only: no container engine, no Galaxy.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUNTIME = {"kubernetes", "pyyaml", "jsonpatch", "cryptography", "bcrypt"}
DEV = {"pytest", "hypothesis", "ruff", "ansible-lint", "molecule", "ansible-builder", "antsibull-changelog", "uv",
       "matplotlib", "ansible"}  # fmt: skip


def names(text: str) -> set[str]:
    """Distribution names (normalised) of requirement lines; comments and options dropped."""
    out = set()
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line and not line.startswith("-"):
            out.add(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def readme_example() -> dict:
    section = (REPO / "README.md").read_text().split("### Running it from AWX / Ansible Automation Platform", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    (work / "execution-environment.yml").write_text(yaml.safe_dump(readme_example(), sort_keys=False))
    build = subprocess.run([BIN / "ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(work)],
                           capture_output=True, text=True, check=False, cwd=work)  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    create = subprocess.run(
        [BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
         "--output-filename", "Containerfile"],
        capture_output=True, text=True, check=False, cwd=work,
    )  # fmt: skip
    assert create.returncode == 0, create.stdout + create.stderr
    return work


def test_the_readme_example_names_the_tarball_this_checkout_builds(context):
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = f"theedgeworks-devpi-{version}.tar.gz"
    assert (context / tarball).is_file()
    example = readme_example()
    assert example["additional_build_files"] == [{"src": tarball, "dest": "collections"}]
    assert example["dependencies"]["galaxy"]["collections"] == [{"name": f"collections/{tarball}", "type": "file"}]
    assert (context / "context" / "_build" / "collections" / tarball).is_file()
    containerfile = (context / "context" / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "introspect" in containerfile


def test_the_collection_brings_its_runtime_needs_and_no_test_tool(context, tmp_path):
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    assert names((REPO / "requirements.txt").read_text()) == RUNTIME
    packages = [line for line in (REPO / "bindep.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert packages and all("[compile" in line for line in packages), "a system package at run time"
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    collections = tmp_path / "collections"
    install = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(collections),
         str(context / f"theedgeworks-devpi-{version}.tar.gz")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    introspect = subprocess.run(
        [BIN / "ansible-builder", "introspect", str(collections), "--write-pip", str(tmp_path / "pip.txt"),
         "--write-bindep", str(tmp_path / "bindep.txt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    pip = (tmp_path / "pip.txt").read_text()
    print(f"\n[ee] introspected pip requirements:\n{pip}")
    # introspect leaves PyYAML out by itself (ansible-core needs it anyway)
    assert names(pip) == RUNTIME - {"pyyaml"}
    assert not names(pip) & DEV
    bindep = (tmp_path / "bindep.txt").read_text()
    assert "compile" in bindep and "nginx" not in bindep and "golang" not in bindep
