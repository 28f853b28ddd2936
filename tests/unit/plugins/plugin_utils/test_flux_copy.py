"""The Flux-ready form of the encrypted copy (plugin_utils/_flux_copy.py): which files a run writes and removes, and
the input checks' rules for devpi_secrets_backup_flux_dir."""

from __future__ import annotations

import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _backup, _flux_copy

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
TYPES = {"devpi-secret": "Opaque", "devpi-oauth2-proxy-secret": "Opaque"}


def docs(values=None):
    values = values or {"devpi-secret": {"secret": "s" * 44}, "devpi-oauth2-proxy-secret": {"cookie-secret": "c" * 43}}
    return _backup.manifests(values, TYPES, "devpi", {})


def written(folder, names):
    """The folder as a run that wrote ``names`` leaves it (only the kustomization's text matters to the plan)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / _flux_copy.file_name(name)).write_text("x")
    (folder / _flux_copy.KUSTOMIZATION).write_text(_flux_copy.kustomization_text(docs()))


def test_an_unchanged_copy_writes_nothing_into_a_complete_folder(tmp_path):
    folder = tmp_path / "flux"
    written(folder, TYPES)
    assert not _flux_copy.incomplete(str(folder))
    assert _flux_copy.plan(docs(), str(folder), "unchanged", []) == {"write": [], "kustomization": False, "remove": []}


def test_an_unchanged_copy_fills_a_new_folder_or_a_lost_file(tmp_path):
    folder = tmp_path / "flux"
    assert _flux_copy.incomplete(str(folder))
    assert _flux_copy.plan(docs(), str(folder), "unchanged", []) == {
        "write": ["devpi-secret.sops.yaml", "devpi-oauth2-proxy-secret.sops.yaml"],
        "kustomization": True,
        "remove": [],
    }
    written(folder, ["devpi-oauth2-proxy-secret"])  # devpi-secret's file lost
    assert _flux_copy.incomplete(str(folder))
    assert _flux_copy.plan(docs(), str(folder), "unchanged", []) == {
        "write": ["devpi-secret.sops.yaml"],
        "kustomization": False,
        "remove": [],
    }
    assert not _flux_copy.incomplete("")  # no folder given


def test_a_new_copy_writes_every_file_and_the_kustomization(tmp_path):
    decided = _flux_copy.plan(docs(), str(tmp_path / "flux"), "written", [])
    assert decided == {
        "write": ["devpi-secret.sops.yaml", "devpi-oauth2-proxy-secret.sops.yaml"],
        "kustomization": True,
        "remove": [],
    }
    assert _flux_copy.written_names(decided)[-1] == "kustomization.yaml"
    body = yaml.safe_load(_flux_copy.kustomization_text(docs()))
    assert body == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["devpi-secret.sops.yaml", "devpi-oauth2-proxy-secret.sops.yaml"],
    }


def test_a_rotation_writes_the_file_of_the_rotated_secret_only(tmp_path):
    folder = tmp_path / "flux"
    written(folder, TYPES)
    changes = [{"secret": "devpi-secret", "key": "secret", "why": "rotated"}]
    assert _flux_copy.plan(docs(), str(folder), "updated", changes) == {
        "write": ["devpi-secret.sops.yaml"],
        "kustomization": False,
        "remove": [],
    }


def test_a_missing_file_is_written_again(tmp_path):
    folder = tmp_path / "flux"
    written(folder, ["devpi-secret"])
    changes = [{"secret": "devpi-secret", "key": "secret", "why": "cluster"}]
    decided = _flux_copy.plan(docs(), str(folder), "updated", changes)
    assert decided["write"] == ["devpi-secret.sops.yaml", "devpi-oauth2-proxy-secret.sops.yaml"]


def test_an_update_that_only_dropped_keys_writes_every_file(tmp_path):
    folder = tmp_path / "flux"
    written(folder, TYPES)
    assert len(_flux_copy.plan(docs(), str(folder), "updated", [])["write"]) == 2


def test_a_secret_no_longer_in_the_copy_is_removed_and_nothing_else(tmp_path):
    folder = tmp_path / "flux"
    written(folder, TYPES)
    (folder / "README.md").write_text("the user's")  # not listed by the kustomization: never touched
    fewer = docs({"devpi-secret": {"secret": "s" * 44}})
    changes = [{"secret": "devpi-secret", "key": "secret", "why": "rotated"}]
    decided = _flux_copy.plan(fewer, str(folder), "updated", changes)
    assert decided == {
        "write": ["devpi-secret.sops.yaml"],
        "kustomization": True,
        "remove": ["devpi-oauth2-proxy-secret.sops.yaml"],
    }


def test_only_plain_file_names_listed_by_the_kustomization_are_removable(tmp_path):
    folder = tmp_path / "flux"
    folder.mkdir()
    (folder / _flux_copy.KUSTOMIZATION).write_text(
        yaml.safe_dump({"resources": ["../elsewhere.sops.yaml", "sub/x.sops.yaml", "deploy.yaml", "old.sops.yaml"]})
    )
    assert _flux_copy.listed(str(folder)) == ["old.sops.yaml"]
    (folder / _flux_copy.KUSTOMIZATION).write_text("- not: a kustomization")
    assert _flux_copy.listed(str(folder)) == []


# the input checks' rules (imported when the tests run: see test_backup_inputs.py)
