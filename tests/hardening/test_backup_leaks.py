"""Leaks of the encrypted copy (devpi_secrets_backup_file): no plaintext value in the copy, beside it, in any output.

One namespace goes, at -vvv --diff, through check mode, the first run (copy written), a re-run, a rotation of every
generated Secret (copy updated), the loss of the namespace and a rebuild from the copy (values restored), and a run
against a damaged copy (fails before any write). Every value the cluster held after a step, every value a run made
(the test callback's capture) and the age identity are searched - plain, base64, unpadded and URL-safe base64
(helpers.leaks.forms_of), the htpasswd hash and its body - in every run's output, in the copy (encrypted: it holds
none), in the copy's folder (nothing but the copy: no temporary file left), in the copy's Flux-ready form
(devpi_secrets_backup_flux_dir: one file per Secret and the kustomization, nothing else) and in the runs' HOME and
temp folders.
"""

from __future__ import annotations

import os

import pytest
from hardening_support import find_leaks, isolated_env, scan_files, secret_values

from helpers.backup import backup_vars, make_age_key, sops_dir
from helpers.kube import delete_namespace
from helpers.leaks import forms_of
from helpers.site import api_writes, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration


def test_no_plaintext_value_in_the_copy_its_folder_or_the_output(kubeconfig, namespace, tmp_path):
    from helpers.site import make_inputs

    inputs = make_inputs(tmp_path / "inputs")
    work = tmp_path / "work"
    key = make_age_key(tmp_path / "keys")
    folder = tmp_path / "backup"
    folder.mkdir(mode=0o700)
    copy_file = folder / "devpi.sops.yaml"
    env, temp_dirs = isolated_env(tmp_path / "env")
    env["PATH"] = sops_dir() + os.pathsep + env["PATH"]
    flux_dir = tmp_path / "flux"  # the copy's Flux-ready form (devpi_secrets_backup_flux_dir), one file per Secret
    variables = backup_vars(copy_file, key) | {"devpi_secrets_backup_flux_dir": str(flux_dir)}

    needles: dict[str, str] = {}
    runs = []

    def step(label, *args, extra=None, ok=True):
        run = run_site(
            kubeconfig, namespace, inputs, "-vvv", "--diff", *args, extra={**variables, **(extra or {})},
            workdir=work, env=env,
        )  # fmt: skip
        runs.append((label, run))
        assert (run.rc == 0) is ok, f"{label}: {run.output[-4000:]}"
        if ok:
            for k, v in secret_values(read_secrets(kubeconfig, namespace)).items():
                needles.setdefault(f"{k} [{label}]", v)
        values = [v for v in run.values if len(v) >= 12]
        for form, text in forms_of(values, min_length=12).items():
            needles.setdefault(f"made by the run: {form} [{label}]", text)
        return run

    step("check mode", "--check")
    assert not copy_file.exists()
    assert not flux_dir.exists()
    step("first run")
    step("re-run")
    step("rotate all", extra={"devpi_secrets_rotate": "all"})
    assert delete_namespace(namespace, kubeconfig=kubeconfig, timeout=120)
    rebuilt = step("rebuild")
    assert rebuilt.action("devpi-secret") == "restored"
    text = copy_file.read_text()
    start = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
    damaged = folder / "damaged.sops.yaml"
    damaged.write_text(text[:start] + ("A" if text[start] != "A" else "B") + text[start + 1 :])
    damaged.chmod(0o600)
    writes = api_writes(kubeconfig)
    step("damaged copy", extra={"devpi_secrets_backup_file": str(damaged)}, ok=False)
    assert writes_between(writes, api_writes(kubeconfig)) == {}

    needles["age identity"] = next(
        line for line in key.path.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    )
    needles["client secret (input)"] = inputs.client_secret

    output_leaks = {label: find_leaks(run.output, needles) for label, run in runs}
    output_leaks = {k: v for k, v in output_leaks.items() if v}
    copy_leaks = find_leaks(copy_file.read_text(), needles)
    flux_leaks = {p.name: find_leaks(p.read_text(), needles) for p in flux_dir.iterdir()}
    flux_leaks = {k: v for k, v in flux_leaks.items() if v}
    left = sorted(p.name for p in folder.iterdir())
    flux_left = sorted(p.name for p in flux_dir.iterdir())
    files = scan_files(
        [*temp_dirs, work, folder, flux_dir],
        needles,
        {p.resolve() for p in work.glob("vars-*.json")} | {key.path.resolve()},
    )
    print(
        f"\n[hardening] backup leaks: {len(runs)} runs searched for {len(set(needles.values()))} distinct value "
        f"forms; output: {output_leaks or 'none'}; copy: {copy_leaks or 'none'}; files: {files or 'none'}; "
        f"copy folder: {left}; flux folder: {flux_left}, leaks {flux_leaks or 'none'}"
    )
    assert output_leaks == {}
    assert copy_leaks == []
    assert flux_leaks == {}
    # one file per Secret and the kustomization; no temporary file left behind
    assert flux_left == [
        "devpi-basic-auth-client.sops.yaml",
        "devpi-basic-auth.sops.yaml",
        "devpi-oauth2-proxy-secret.sops.yaml",
        "devpi-secret.sops.yaml",
        "kustomization.yaml",
    ]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in flux_dir.iterdir())
    assert left == ["damaged.sops.yaml", "devpi.sops.yaml"]  # no temporary file left behind
    assert copy_file.stat().st_mode & 0o777 == 0o600
    assert files == []
