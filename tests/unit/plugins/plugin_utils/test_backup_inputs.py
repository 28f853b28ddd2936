"""The input checks' rules (plugin_utils/_inputs.py) for the encrypted copy (devpi_secrets_backup_*): every problem
names its variable, before any read or write."""

from __future__ import annotations

import pytest

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

# Imported when the tests run, not when they are collected, and in this folder, which runs after
# tests/unit/plugins/modules (see test_plan_step.py): the action plugin machinery imported before the module tests
# changes how ansible-core routes their warnings (3 of them failed with this file in tests/unit/plugins/action).
input_checks = None


@pytest.fixture(autouse=True)
def _sops_found(monkeypatch):
    global input_checks
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _inputs as module

    input_checks = module
    monkeypatch.setattr(input_checks.shutil, "which", lambda name: "/usr/bin/" + name)


def problems(tmp_path, **values):
    inputs = {"devpi_secrets_" + name: value for name, value in values.items()}
    return input_checks.backup_problems(inputs, str(tmp_path))


def test_off_without_a_file(tmp_path):
    assert problems(tmp_path, backup_file="") == []


def test_a_new_copy_needs_recipients_only(tmp_path):
    assert problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=[RECIPIENT]) == []
    (missing,) = problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=[])
    assert missing.startswith("devpi_secrets_backup_file is set: devpi_secrets_backup_age_recipients")
    (bad,) = problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=["age1notakey"])
    assert bad.startswith("devpi_secrets_backup_age_recipients must be age public keys")


def test_an_existing_copy_needs_a_readable_identity(tmp_path):
    (tmp_path / "copy.yaml").write_text("x")
    (needs,) = problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=[RECIPIENT])
    assert "devpi_secrets_backup_age_keyfile" in needs
    (absent,) = problems(
        tmp_path, backup_file="copy.yaml", backup_age_recipients=[RECIPIENT], backup_age_keyfile="no-such.key"
    )
    assert "devpi_secrets_backup_age_keyfile" in absent and "no-such.key" in absent
    (tmp_path / "age.key").write_text("AGE-SECRET-KEY-1")
    assert (
        problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=[RECIPIENT], backup_age_keyfile="age.key")
        == []
    )


def test_the_folder_must_exist_and_sops_be_found(tmp_path, monkeypatch):
    (folder,) = problems(tmp_path, backup_file="missing/copy.yaml", backup_age_recipients=[RECIPIENT])
    assert folder.startswith("devpi_secrets_backup_file (") and "not a writable folder" in folder
    monkeypatch.setattr(input_checks.shutil, "which", lambda name: None)
    (sops,) = problems(tmp_path, backup_file="copy.yaml", backup_age_recipients=[RECIPIENT])
    assert "sops" in sops and sops.startswith("devpi_secrets_backup_file is set")


def test_paths_are_resolved_from_the_playbook_directory(tmp_path):
    inputs = {
        "devpi_secrets_backup_file": "copy.yaml",
        "devpi_secrets_backup_age_recipients": [RECIPIENT],
        "devpi_secrets_backup_age_keyfile": "age.key",
    }
    input_checks.backup_problems(inputs, str(tmp_path))
    assert inputs["devpi_secrets_backup_file"] == str(tmp_path / "copy.yaml")
    assert inputs["devpi_secrets_backup_age_keyfile"] == str(tmp_path / "age.key")


# devpi_secrets_backup_flux_dir (the copy's Flux-ready form, plugin_utils/_flux_copy.py)
def test_the_flux_folder_needs_the_copy(tmp_path):
    (needs,) = problems(tmp_path, backup_file="", backup_flux_dir="flux")
    assert needs.startswith("devpi_secrets_backup_flux_dir is set") and "devpi_secrets_backup_file" in needs


def test_the_flux_folder_exists_or_can_be_made(tmp_path):
    copy = {"backup_file": "copy.yaml", "backup_age_recipients": [RECIPIENT]}
    assert problems(tmp_path, backup_flux_dir="flux", **copy) == []  # made by the run: its parent exists
    (tmp_path / "flux").mkdir()
    assert problems(tmp_path, backup_flux_dir="flux", **copy) == []
    (no_parent,) = problems(tmp_path, backup_flux_dir="no/such/flux", **copy)
    assert no_parent.startswith("devpi_secrets_backup_flux_dir (%s/no/such/flux)" % tmp_path)
    (tmp_path / "file").write_text("x")
    (not_a_folder,) = problems(tmp_path, backup_flux_dir="file", **copy)
    assert not_a_folder.startswith("devpi_secrets_backup_flux_dir")
    (same,) = problems(tmp_path, backup_flux_dir=".", **copy)
    assert same.startswith("devpi_secrets_backup_flux_dir") and "devpi_secrets_backup_file" in same


def test_the_flux_folder_is_resolved_from_the_playbook_directory(tmp_path):
    inputs = {
        "devpi_secrets_backup_file": "copy.yaml",
        "devpi_secrets_backup_age_recipients": [RECIPIENT],
        "devpi_secrets_backup_flux_dir": "flux",
    }
    assert input_checks.backup_problems(inputs, str(tmp_path)) == []
    assert inputs["devpi_secrets_backup_flux_dir"] == str(tmp_path / "flux")
