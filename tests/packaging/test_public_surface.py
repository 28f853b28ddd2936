"""The collection's public surface: what a user may call, and nothing that exists only for the role.

Public are the two modules (htpasswd_bcrypt, random_b64, with their action plugins), the role and the playbooks.
Every other plugin is plumbing of the devpi_secrets role: its name starts with `_` and its documentation says
"[INTERNAL]" first, as community.sops marks its role's `_latest_version` filter, so that neither `ansible-doc`
nor the docs site offers it as an interface. Read from the files, and from `ansible-doc --list` (what users see).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLUGIN_TYPES = ("action", "filter", "lookup", "modules", "callback", "inventory", "test")
PUBLIC = {"action": {"htpasswd_bcrypt", "random_b64"}, "modules": {"htpasswd_bcrypt", "random_b64"}}


def plugins(kind: str) -> dict[str, Path]:
    folder = REPO / "plugins" / kind
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.glob("*.py") if p.stem != "__init__"}


def documentation(path: Path) -> dict:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    return {}


def filter_names(path: Path) -> set[str]:
    """The names a filter file registers (the dict keys returned by FilterModule.filters)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            names |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    return names


@pytest.mark.parametrize("kind", PLUGIN_TYPES)
def test_only_the_two_modules_are_public(kind):
    public = {name for name in plugins(kind) if not name.startswith("_")}
    assert public == PUBLIC.get(kind, set())


def test_filters_register_only_private_names():
    for path in plugins("filter").values():
        assert filter_names(path), path
        assert all(name.startswith("_") for name in filter_names(path)), path


@pytest.mark.parametrize(
    "path",
    [p for kind in PLUGIN_TYPES if kind != "action" for name, p in plugins(kind).items() if name.startswith("_")],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_private_plugin_says_so_first(path):
    doc = documentation(path)
    assert doc.get("name", doc.get("module")) == path.stem
    assert doc["short_description"].startswith("[INTERNAL]")
    assert "internal" in doc["description"][0].lower()


def test_ansible_doc_lists_no_public_plugin_but_the_two_modules():
    """What a user sees: `ansible-doc --list` of the installed collection, every plugin type it lists."""
    ansible_doc = str(Path(sys.executable).parent / "ansible-doc")
    seen = set()
    for kind in ("module", "filter", "lookup"):
        proc = subprocess.run(
            [ansible_doc, "--list", "--json", "-t", kind, "theedgeworks.devpi"],
            cwd=REPO,
            env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": str(Path(sys.executable).parent)},
            capture_output=True,
            text=True,
            check=True,
        )
        seen |= {(kind, name.rsplit(".", 1)[1]) for name in json.loads(proc.stdout)}
    public = {entry for entry in seen if not entry[1].startswith("_")}
    assert public == {("module", "htpasswd_bcrypt"), ("module", "random_b64")}
    assert ("module", "_plan") in seen and ("lookup", "_cluster_state") in seen  # the private ones are still there
