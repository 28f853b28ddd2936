"""The Flux-ready form of the encrypted copy (devpi_secrets_backup_flux_dir), against the real API server.

The copy itself is one sops run over every document (one MAC): Flux's kustomize-controller, which builds a
kustomization and then decrypts each resource on its own, cannot use it. With devpi_secrets_backup_flux_dir the role
writes, in the same run and at the same moment as the copy, one file per Secret of the copy, each encrypted by its
own sops run, and a kustomization.yaml listing them. Here: each file decrypts alone with the sops CLI and the age
identity alone; `kubectl kustomize` of the folder builds and each built resource still decrypts alone (the
kustomize-controller path); the decrypted resources are accepted by the API server (server-side apply) into a lost
namespace and hold the copy's values; a rotation rewrites the affected file only; a re-run writes no file and makes no
API write; check mode writes nothing; the variable is validated before any write.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from helpers.backup import backup_vars, copy_values, make_age_key, sops_decrypt, sops_env
from helpers.kube import KUBECTL, delete_namespace, kubectl
from helpers.secret_data import dec
from helpers.site import CLIENT_SECRET, api_writes, read_secrets, run_site, writes_between
from helpers.tools import sops as sops_tool

pytestmark = pytest.mark.integration

SSA = "kustomize.toolkit.fluxcd.io/ssa"
FLUX_SECRETS = ("devpi-secret", "devpi-oauth2-proxy-secret", CLIENT_SECRET, "devpi-basic-auth")


@pytest.fixture
def backup(tmp_path):
    key = make_age_key(tmp_path / "keys")
    copy_file = tmp_path / "backup" / "devpi-secrets.sops.yaml"
    copy_file.parent.mkdir(mode=0o700)
    flux_dir = tmp_path / "fluxrepo" / "devpi-secrets"  # not there yet: the role creates it
    (tmp_path / "fluxrepo").mkdir(mode=0o700)
    return key, copy_file, flux_dir, sops_env()


def run(kubeconfig, namespace, inputs, backup, *args, extra=None):
    key, copy_file, flux_dir, env = backup
    variables = backup_vars(copy_file, key)
    variables["devpi_secrets_backup_flux_dir"] = str(flux_dir)
    variables.update(extra or {})
    return run_site(kubeconfig, namespace, inputs, *args, extra=variables, env=env)


def flux_files(flux_dir):
    return sorted(p.name for p in flux_dir.iterdir())


def stamps(flux_dir):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in flux_dir.iterdir()}


def decrypt_alone(path, keyfile) -> dict:
    (doc,) = sops_decrypt(path, keyfile)
    return doc


def decrypt_json_alone(path, keyfile) -> dict:
    """A JSON resource decrypted as kustomize-controller does (JSON in, JSON out), with the age identity alone."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent), "SOPS_AGE_KEY_FILE": str(keyfile)}
    proc = subprocess.run(
        [str(sops_tool.sops_binary()), "decrypt", "--input-type", "json", "--output-type", "json", str(path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_each_file_decrypts_alone_builds_with_kustomize_and_the_api_server_accepts_it(
    kubeconfig, namespace, inputs, backup, tmp_path
):
    key, copy_file, flux_dir, _env = backup
    first = run(kubeconfig, namespace, inputs, backup)
    assert first.rc == 0, first.output[-6000:]
    copy = copy_values(sops_decrypt(copy_file, key.path))
    names = {name for name, _key in copy}
    assert names == set(FLUX_SECRETS)

    expected = sorted(["kustomization.yaml", *("%s.sops.yaml" % name for name in names)])
    assert flux_files(flux_dir) == expected
    report = first.backup_report.get("flux") or {}
    assert report.get("dir") == str(flux_dir), first.backup_report
    assert sorted(report.get("written") or []) == expected
    assert report.get("removed") == []
    for path in flux_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path.name

    # Each file alone: one Secret, the annotation Flux reads, exactly the copy's values of that Secret.
    for name in names:
        doc = decrypt_alone(flux_dir / ("%s.sops.yaml" % name), key.path)
        assert (doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"]) == ("Secret", name, namespace)
        assert doc["metadata"]["annotations"][SSA] == "IfNotPresent"
        assert doc["stringData"] == {k: v for (secret, k), v in copy.items() if secret == name}
        raw = yaml.safe_load((flux_dir / ("%s.sops.yaml" % name)).read_text())
        assert raw["sops"]["encrypted_regex"] == "^(data|stringData)$"
        assert all(v.startswith("ENC[AES256_GCM,") for v in raw["stringData"].values())

    kustomization = yaml.safe_load((flux_dir / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted("%s.sops.yaml" % name for name in names)

    # The kustomize-controller path: build the folder, then decrypt each built resource on its own - as JSON with its
    # keys sorted, as kustomize-controller hands it to sops (internal/decryptor/decryptor.go, DecryptResource:
    # res.MarshalJSON, then SopsDecryptWithFormat(out, formats.Json, formats.Json)).
    built = subprocess.run([KUBECTL, "kustomize", str(flux_dir)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    resources = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    assert sorted(d["metadata"]["name"] for d in resources) == sorted(names)
    scratch = tmp_path / "built"
    scratch.mkdir(mode=0o700)
    decrypted = []
    for resource in resources:
        encrypted = scratch / ("%s.json" % resource["metadata"]["name"])  # still encrypted: no plaintext here
        encrypted.write_text(json.dumps(resource, sort_keys=True))
        decrypted.append(decrypt_json_alone(encrypted, key.path))
    assert {(d["metadata"]["name"], k): v for d in decrypted for k, v in d["stringData"].items()} == copy

    # The cluster is lost; the decrypted resources, applied server-side, are accepted and hold the copy's values.
    assert delete_namespace(namespace, kubeconfig=kubeconfig, timeout=120)
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": decrypted})
    applied = kubectl(
        "apply", "--server-side", "--field-manager=kustomize-controller", "-f", "-",
        kubeconfig=kubeconfig, input=manifest, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    held = read_secrets(kubeconfig, namespace)
    assert {(name, k): dec(held[name], k).decode() for name, k in copy} == copy
    assert all(held[name]["metadata"]["annotations"][SSA] == "IfNotPresent" for name in names)


def test_a_rotation_rewrites_the_affected_file_and_a_rerun_writes_nothing(kubeconfig, namespace, inputs, backup):
    key, _copy_file, flux_dir, _env = backup
    assert run(kubeconfig, namespace, inputs, backup).rc == 0
    before = stamps(flux_dir)

    rotated = run(kubeconfig, namespace, inputs, backup, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert rotated.rc == 0, rotated.output[-6000:]
    assert rotated.backup_report["flux"]["written"] == ["devpi-secret.sops.yaml"], rotated.backup_report
    after = stamps(flux_dir)
    assert set(after) == set(before)
    assert {name for name in after if after[name] != before[name]} == {"devpi-secret.sops.yaml"}
    value = dec(read_secrets(kubeconfig, namespace)["devpi-secret"], "secret").decode()
    assert decrypt_alone(flux_dir / "devpi-secret.sops.yaml", key.path)["stringData"] == {"secret": value}

    writes = api_writes(kubeconfig)
    rerun = run(kubeconfig, namespace, inputs, backup)
    assert rerun.rc == 0, rerun.output[-6000:]
    assert rerun.recap.get("changed") == 0, rerun.output[-6000:]
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert stamps(flux_dir) == after  # same bytes, same mtime, no temporary file left
    assert rerun.backup_report["flux"]["written"] == []


def test_check_mode_writes_no_flux_file(kubeconfig, namespace, inputs, backup):
    _key, copy_file, flux_dir, _env = backup
    checked = run(kubeconfig, namespace, inputs, backup, "--check")
    assert checked.rc == 0, checked.output[-6000:]
    assert not copy_file.exists()
    assert not flux_dir.exists()
    expected = sorted(["kustomization.yaml", *("%s.sops.yaml" % name for name in FLUX_SECRETS)])
    assert sorted(checked.backup_report["flux"]["written"]) == expected  # the prediction


@pytest.mark.parametrize("case", ["without the copy", "no parent folder"])
def test_the_flux_folder_is_checked_before_any_write(kubeconfig, namespace, inputs, backup, tmp_path, case):
    _key, _copy_file, flux_dir, env = backup
    writes = api_writes(kubeconfig)
    if case == "without the copy":
        failed = run_site(
            kubeconfig, namespace, inputs, extra={"devpi_secrets_backup_flux_dir": str(flux_dir)}, env=env
        )
    else:
        failed = run(kubeconfig, namespace, inputs, backup,
                     extra={"devpi_secrets_backup_flux_dir": str(tmp_path / "no" / "such" / "folder")})  # fmt: skip
    assert failed.rc != 0
    assert "devpi_secrets_backup_flux_dir" in failed.output
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert not flux_dir.exists()


def test_a_folder_set_for_an_existing_copy_is_written_without_touching_the_copy(kubeconfig, namespace, inputs, backup):
    """devpi_secrets_backup_flux_dir given after the copy exists (or the folder lost): the next run writes the folder
    from the copy as it is - no API write, the copy's bytes and mtime kept - and the run after it writes nothing."""
    key, copy_file, flux_dir, env = backup
    assert run_site(kubeconfig, namespace, inputs, extra=backup_vars(copy_file, key), env=env).rc == 0
    copy_stat, copy_bytes = copy_file.stat(), copy_file.read_bytes()
    writes = api_writes(kubeconfig)
    added = run(kubeconfig, namespace, inputs, backup)
    assert added.rc == 0, added.output[-6000:]
    assert writes_between(writes, api_writes(kubeconfig)) == {}
    assert added.backup_report.get("action") == "unchanged", added.backup_report
    expected = sorted(["kustomization.yaml", *("%s.sops.yaml" % name for name in FLUX_SECRETS)])
    assert sorted(added.backup_report["flux"]["written"]) == expected
    assert flux_files(flux_dir) == expected
    assert (copy_file.read_bytes(), copy_file.stat().st_mtime_ns) == (copy_bytes, copy_stat.st_mtime_ns)
    copy = copy_values(sops_decrypt(copy_file, key.path))
    for name in FLUX_SECRETS:
        stored = decrypt_alone(flux_dir / ("%s.sops.yaml" % name), key.path)["stringData"]
        assert stored == {k: v for (secret, k), v in copy.items() if secret == name}

    # A lost file is written again, alone; then nothing.
    (flux_dir / "devpi-secret.sops.yaml").unlink()
    before = stamps(flux_dir)
    again = run(kubeconfig, namespace, inputs, backup)
    assert again.rc == 0, again.output[-6000:]
    assert again.backup_report["flux"]["written"] == ["devpi-secret.sops.yaml"]
    assert {n: v for n, v in stamps(flux_dir).items() if n != "devpi-secret.sops.yaml"} == before
    settled = stamps(flux_dir)
    rerun = run(kubeconfig, namespace, inputs, backup)
    assert rerun.rc == 0 and rerun.recap.get("changed") == 0, rerun.output[-6000:]
    assert rerun.backup_report["flux"]["written"] == []
    assert stamps(flux_dir) == settled
