"""Rebuilding a cluster from the encrypted copy (devpi_secrets_backup_file, SOPS with age), against the real API server.

The namespace is "lost" by deleting it entirely; a run with the same copy brings every generated value back byte for
byte (devpi-secret, cookie-secret, the generated password and the htpasswd line that verifies it). A rotation
changes the copy and a second rebuild restores the rotated value. The copy decrypts with the sops CLI and the age
identity alone. A missing identity or a corrupt copy fails before any write; a re-run leaves the copy file as it is.
"""

from __future__ import annotations

import base64
import os
import secrets
import time

import pytest

from helpers.backup import backup_vars, copy_values, make_age_key, sops_decrypt, sops_env
from helpers.kube import delete_namespace, kubectl
from helpers.secret_data import dec, htpasswd_verifies
from helpers.site import CLIENT_SECRET, SECRET_NAMES, api_writes, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration

#: every generated value, and the htpasswd line made from the generated password: (Secret, key)
GENERATED = (
    ("devpi-secret", "secret"),
    ("devpi-oauth2-proxy-secret", "cookie-secret"),
    (CLIENT_SECRET, "password"),
    ("devpi-basic-auth", "auth"),
)


def generated(kubeconfig, namespace) -> dict:
    secrets = read_secrets(kubeconfig, namespace)
    return {(name, key): dec(secrets[name], key) for name, key in GENERATED}


def lose(kubeconfig, namespace):
    """The cluster is lost: the namespace and everything in it are gone."""
    assert delete_namespace(namespace, kubeconfig=kubeconfig, timeout=120)


@pytest.fixture
def backup(tmp_path):
    key = make_age_key(tmp_path / "keys")
    copy_file = tmp_path / "backup" / "devpi-secrets.sops.yaml"
    copy_file.parent.mkdir(mode=0o700)
    return key, copy_file, sops_env()


def run(kubeconfig, namespace, inputs, backup, *args, extra=None, keyfile=None):
    key, copy_file, env = backup
    variables = backup_vars(copy_file, key, keyfile)
    variables.update(extra or {})
    return run_site(kubeconfig, namespace, inputs, *args, extra=variables, env=env)


def test_rebuild_restores_every_generated_value_and_a_rotated_one(kubeconfig, namespace, inputs, backup):
    key, copy_file, _env = backup
    first = run(kubeconfig, namespace, inputs, backup)
    assert first.rc == 0, first.output[-6000:]
    assert first.backup_report.get("action") == "written", first.backup_report
    assert copy_file.stat().st_mode & 0o777 == 0o600
    before = generated(kubeconfig, namespace)
    assert htpasswd_verifies(before[(CLIENT_SECRET, "password")], before[("devpi-basic-auth", "auth")])

    # The copy decrypts with the sops CLI and the age identity alone, holds exactly the generated values, and is
    # made of Secret manifests that Flux creates but never overwrites.
    docs = sops_decrypt(copy_file, key.path)
    assert {k: v.encode() for k, v in copy_values(docs).items()} == before
    for doc in docs:
        assert doc["kind"] == "Secret"
        assert doc["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/ssa"] == "IfNotPresent"
    copied = copy_file.read_bytes()

    lose(kubeconfig, namespace)
    writes = api_writes(kubeconfig)
    rebuilt = run(kubeconfig, namespace, inputs, backup)
    assert rebuilt.rc == 0, rebuilt.output[-6000:]
    assert generated(kubeconfig, namespace) == before  # byte for byte
    restored = read_secrets(kubeconfig, namespace)
    assert set(restored) == set(SECRET_NAMES)
    assert set(restored["devpi-basic-auth"]["data"]) == {"auth"}  # exactly as a first run makes it
    assert writes_between(writes, api_writes(kubeconfig)) == {
        ("POST", "namespaces"): 1,
        ("POST", "secrets"): len(SECRET_NAMES),
    }
    assert {name: rebuilt.action(name) for name, _key in GENERATED} == {name: "restored" for name, _key in GENERATED}
    assert rebuilt.action("devpi-tls") == "created"
    assert rebuilt.backup_report.get("action") == "unchanged", rebuilt.backup_report
    assert copy_file.read_bytes() == copied  # nothing new to keep: the copy is not rewritten

    # Rotate one value: the copy follows in the same run; a second rebuild restores the rotated value.
    rotated = run(kubeconfig, namespace, inputs, backup, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert rotated.rc == 0, rotated.output[-6000:]
    assert rotated.action("devpi-secret") == "rotated"
    assert rotated.backup_report.get("action") == "updated", rotated.backup_report
    assert copy_file.read_bytes() != copied
    after_rotation = generated(kubeconfig, namespace)
    assert after_rotation[("devpi-secret", "secret")] != before[("devpi-secret", "secret")]
    assert {k: v.encode() for k, v in copy_values(sops_decrypt(copy_file, key.path)).items()} == after_rotation

    lose(kubeconfig, namespace)
    again = run(kubeconfig, namespace, inputs, backup)
    assert again.rc == 0, again.output[-6000:]
    assert generated(kubeconfig, namespace) == after_rotation


STAMP = "theedgeworks.devpi/generated-at"


def stamps(kubeconfig, namespace) -> dict:
    """The age annotation of each Secret that holds a generated value (or its htpasswd line)."""
    secrets = read_secrets(kubeconfig, namespace)
    return {name: (secrets[name]["metadata"].get("annotations") or {}).get(STAMP) for name, _key in GENERATED}


def test_a_restored_value_keeps_the_age_it_had_before_the_loss(kubeconfig, namespace, inputs, backup):
    """Issue 18, item 2: the copy keeps each value's stamp, so a rebuild restores the stamp with the value - its age
    is not reset to the time of the restore (which would postpone a scheduled rotation by the value's whole age)."""
    key, copy_file, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    before = stamps(kubeconfig, namespace)
    assert all(before.values()), before
    docs = sops_decrypt(copy_file, key.path)
    assert {d["metadata"]["name"]: d["metadata"]["annotations"].get(STAMP) for d in docs} == before

    time.sleep(1.1)  # stamps are to the second: a restore stamped now would differ
    lose(kubeconfig, namespace)
    rebuilt = run(kubeconfig, namespace, inputs, backup)
    assert rebuilt.rc == 0, rebuilt.output[-6000:]
    assert {name: rebuilt.action(name) for name, _key in GENERATED} == {name: "restored" for name, _key in GENERATED}
    assert stamps(kubeconfig, namespace) == before  # byte for byte
    assert rebuilt.backup_report.get("action") == "unchanged", rebuilt.backup_report


def test_rerun_with_the_copy_writes_nothing_and_leaves_the_file(kubeconfig, namespace, inputs, backup):
    _key, copy_file, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    stat, content = copy_file.stat(), copy_file.read_bytes()
    writes = api_writes(kubeconfig)
    rerun = run(kubeconfig, namespace, inputs, backup)
    assert rerun.rc == 0, rerun.output[-6000:]
    assert rerun.recap.get("changed") == 0, rerun.output[-6000:]
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert copy_file.read_bytes() == content
    assert copy_file.stat().st_mtime_ns == stat.st_mtime_ns
    assert rerun.backup_report.get("action") == "unchanged"
    assert sorted(os.listdir(copy_file.parent)) == [copy_file.name]  # no temporary file left


def test_the_cluster_wins_and_the_copy_follows(kubeconfig, namespace, inputs, backup):
    """A generated value that differs between the cluster and the copy: the cluster's is kept, the copy updated."""
    key, copy_file, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    value = base64.b64encode(secrets.token_bytes(32)).decode()  # valid, so the role keeps it
    kubectl(
        "patch", "secret", "devpi-secret", "-n", namespace, "--type=merge",
        "-p", '{"data": {"secret": "%s"}}' % base64.b64encode(value.encode()).decode(), kubeconfig=kubeconfig,
    )  # fmt: skip
    writes = api_writes(kubeconfig)
    again = run(kubeconfig, namespace, inputs, backup)
    assert again.rc == 0, again.output[-6000:]
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert again.action("devpi-secret") == "kept"
    assert again.backup_report.get("action") == "updated", again.backup_report
    assert {"secret": "devpi-secret", "key": "secret", "why": "cluster"} in again.backup_report["changes"]
    assert copy_values(sops_decrypt(copy_file, key.path))[("devpi-secret", "secret")] == value


def test_without_the_key_nothing_is_written_and_the_variable_is_named(kubeconfig, namespace, inputs, backup, tmp_path):
    key, copy_file, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    lose(kubeconfig, namespace)
    content = copy_file.read_bytes()
    for keyfile in (tmp_path / "no-such-key", make_age_key(tmp_path / "wrong").path):
        writes = api_writes(kubeconfig)
        failed = run(kubeconfig, namespace, inputs, backup, keyfile=keyfile)
        assert failed.rc != 0
        assert writes_between(writes, api_writes(kubeconfig)) == {}, keyfile
        assert "devpi_secrets_backup_age_keyfile" in failed.output
        assert copy_file.read_bytes() == content
    assert not kubectl("get", "ns", namespace, "--ignore-not-found", "-o", "name", kubeconfig=kubeconfig).stdout


def test_a_corrupt_copy_fails_before_any_write(kubeconfig, namespace, inputs, backup):
    _key, copy_file, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    lose(kubeconfig, namespace)
    text = copy_file.read_text()
    start = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
    flipped = "A" if text[start] != "A" else "B"
    copy_file.write_text(text[:start] + flipped + text[start + 1 :])
    corrupt = copy_file.read_bytes()
    writes = api_writes(kubeconfig)
    failed = run(kubeconfig, namespace, inputs, backup)
    assert failed.rc != 0
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert "devpi_secrets_backup_file" in failed.output
    assert copy_file.read_bytes() == corrupt


def test_check_mode_does_not_write_the_copy(kubeconfig, namespace, inputs, backup):
    _key, copy_file, _env = backup
    checked = run(kubeconfig, namespace, inputs, backup, "--check")
    assert checked.rc == 0, checked.output[-6000:]
    assert checked.backup_report.get("action") == "written"  # the prediction
    assert not copy_file.exists()
    assert os.listdir(copy_file.parent) == []


def test_recipients_are_required_with_a_file(kubeconfig, namespace, inputs, backup):
    _key, copy_file, env = backup
    writes = api_writes(kubeconfig)
    failed = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_backup_file": str(copy_file)}, env=env)
    assert failed.rc != 0
    assert "devpi_secrets_backup_age_recipients" in failed.output
    assert writes_between(writes, api_writes(kubeconfig)) == {}
