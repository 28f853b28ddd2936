"""The collection as users get it: built, installed into an empty path, and included from a playbook elsewhere.

The playbook is the README's inclusion example; its inventory lists `localhost` with a local connection and no
interpreter setting, the normal case in bootstrap inventories. Interpreter discovery then finds the system Python
(/usr/bin/python3 here), which lacks the kubernetes library: the role must not depend on it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers.site import REPO, SECRET_NAMES, read_secrets

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def readme_inclusion_example() -> list:
    """The YAML block of the README's "Including the role in a bootstrap playbook" section."""
    section = (REPO / "README.md").read_text().split("### Including the role in a bootstrap playbook", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}  # and cwd outside the checkout
    build = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(root)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=root,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (tarball,) = root.glob("theedgeworks-devpi-*.tar.gz")
    # Dependencies come with the `ansible` package here (no Galaxy from CI): --no-deps.
    install = subprocess.run(
        [
            BIN / "ansible-galaxy",
            "collection",
            "install",
            str(tarball),
            "-p",
            str(root / "collections"),
            "--no-deps",
            "--force",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=root,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    print(f"\n[installed] {tarball.name}: {tarball.stat().st_size / 1024:.0f} KiB")
    return root


def test_role_from_the_installed_collection_with_localhost_in_the_users_inventory(
    installed, kubeconfig, namespace, inputs, tmp_path
):
    system_python = Path("/usr/bin/python3")
    if system_python.exists():
        lacks = subprocess.run([system_python, "-c", "import kubernetes"], capture_output=True, check=False)
        print(f"\n[installed] {system_python} imports kubernetes: {lacks.returncode == 0}")
    project = tmp_path / "bootstrap"  # a user's project, outside the checkout
    project.mkdir()
    play = readme_inclusion_example()
    (project / "bootstrap.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (project / "inventory.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    variables = inputs.vars(kubeconfig, namespace)
    variables["cluster_context"] = ""  # the example passes its own variable on as devpi_secrets_context
    (project / "vars.json").write_text(json.dumps(variables))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(installed / "collections"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )

    def bootstrap():
        return subprocess.run(
            [BIN / "ansible-playbook", "-i", "inventory.yml", "bootstrap.yml", "-e", "@vars.json"],
            cwd=project, capture_output=True, text=True, check=False, env=env, timeout=300,
        )  # fmt: skip

    run = bootstrap()
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    listed = subprocess.run([BIN / "ansible-galaxy", "collection", "list", "theedgeworks.devpi"],
                            capture_output=True, text=True, check=False, env=env)  # fmt: skip
    assert str(installed / "collections") in listed.stdout
    assert set(read_secrets(kubeconfig, namespace)) == set(SECRET_NAMES)
    again = bootstrap()
    assert again.returncode == 0, again.stdout[-3000:]
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0", again.stdout), again.stdout[-3000:]
