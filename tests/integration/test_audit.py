"""Audit without change (devpi_secrets_audit), against a real Kubernetes API server.

An audit reads what a run reads and writes nothing - no Secret, no namespace, no encrypted copy, no restart - and
fails when anything would change or is at risk. Each risk is made one at a time on a converged namespace; every case
asserts the exit code, the API server's write counter (0, dry runs included), and the report's JSON (the finding
names the Secret or entry and a reason code), and parses the Prometheus textfile beside it with the Python client.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers.backup import backup_vars, make_age_key, sops_env
from helpers.kube import kubectl, namespace_exists
from helpers.leaks import forms_of
from helpers.site import api_writes, create_opaque_tls, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration

ANNOTATION = "theedgeworks.devpi/generated-at"
#: the test leaf is valid for 7 days: a converged namespace is not "at risk" with a 1-day window
QUIET_TLS = {"devpi_secrets_tls_expiry_warning_days": 1}


def report_file(tmp_path: Path) -> Path:
    folder = tmp_path / "textfile"
    folder.mkdir(exist_ok=True)
    return folder / "devpi.json"


def audit(kubeconfig, namespace, inputs, tmp_path, *args, extra=None, env=None):
    """One audit run; returns (run, report JSON or None, Prometheus families by name or None, writes during it)."""
    path = report_file(tmp_path)
    for old in (path, path.with_suffix(".prom")):
        old.unlink(missing_ok=True)
    variables = dict(QUIET_TLS, devpi_secrets_audit=True, devpi_secrets_audit_report=str(path))
    variables.update(extra or {})
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, *args, extra=variables, **({"env": env} if env else {}))
    writes = writes_between(before, api_writes(kubeconfig)), writes_between(before, api_writes(kubeconfig), True)
    report = json.loads(path.read_text()) if path.exists() else None
    prom = path.with_suffix(".prom")
    families = None
    if prom.exists():
        families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    return run, report, families, writes


def converge(kubeconfig, namespace, inputs, extra=None, env=None):
    run = run_site(kubeconfig, namespace, inputs, extra=extra, **({"env": env} if env else {}))
    assert run.rc == 0, run.output[-4000:]
    return run


def reasons(report) -> set:
    return {(f["entry"], f["reason"]) for f in report["findings"]}


def assert_no_writes(writes):
    assert writes == ({}, {}), writes


def assert_prometheus_agrees(report, families):
    """The textfile says what the JSON says: ok, the number of findings, one series per finding."""
    assert families is not None
    ok = families["devpi_secrets_audit_ok"].samples
    assert [s.value for s in ok] == [1.0 if report["ok"] else 0.0]
    assert ok[0].labels == {"namespace": report["namespace"]}
    assert [s.value for s in families["devpi_secrets_audit_findings"].samples] == [len(report["findings"])]
    series = {(s.labels["entry"], s.labels["reason"]) for s in families["devpi_secrets_audit_finding"].samples}
    assert series == reasons(report)


def test_a_converged_namespace_passes_the_audit_with_no_write(kubeconfig, namespace, inputs, tmp_path, capsys):
    converge(kubeconfig, namespace, inputs)
    secrets_before = read_secrets(kubeconfig, namespace)

    started = time.monotonic()
    run, report, families, writes = audit(kubeconfig, namespace, inputs, tmp_path)
    audit_seconds = time.monotonic() - started
    assert run.rc == 0, run.output[-4000:]
    assert_no_writes(writes)
    assert report["ok"] is True and report["findings"] == [] and report["namespace"] == namespace
    assert run.captured["localhost"]["audit"] == report  # the fact holds the same data
    assert_prometheus_agrees(report, families)
    ages = {(s.labels["secret"], s.labels["key"]) for s in families["devpi_secrets_value_age_days"].samples}
    assert ("devpi-secret", "secret") in ages
    assert read_secrets(kubeconfig, namespace) == secrets_before
    assert report_file(tmp_path).stat().st_mode & 0o777 == 0o644

    started = time.monotonic()
    converge(kubeconfig, namespace, inputs)
    rerun_seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[audit] audit run {audit_seconds:.1f} s, re-run {rerun_seconds:.1f} s")


def test_an_empty_cluster_fails_the_audit_naming_the_namespace_and_creates_nothing(
    kubeconfig, namespace, inputs, tmp_path
):
    run, report, families, writes = audit(kubeconfig, namespace, inputs, tmp_path)
    assert run.rc != 0
    assert_no_writes(writes)
    assert (namespace, "namespace_missing") in reasons(report)
    assert ("devpi-secret", "secret_missing") in reasons(report)
    assert report["ok"] is False
    assert_prometheus_agrees(report, families)
    assert not namespace_exists(namespace, kubeconfig=kubeconfig)


def _stamp(kubeconfig, namespace, days):
    old = datetime.now(timezone.utc) - timedelta(days=days, minutes=5)
    stamp = json.dumps({"secret": {"at": old.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": "1.0.0"}}, separators=(",", ":"))
    kubectl("annotate", "--overwrite", "secret", "devpi-secret", "-n", namespace, f"{ANNOTATION}={stamp}",
            kubeconfig=kubeconfig)  # fmt: skip


#: one risk each: how to make it on a converged namespace (kubeconfig, namespace, inputs) -> extra audit vars, and the
#: finding (entry, reason) the report must hold
def _missing(kc, ns, inputs):
    kubectl("delete", "secret", "devpi-secret", "-n", ns, kubeconfig=kc)
    return {}


def _wrong_type(kc, ns, inputs):
    kubectl("delete", "secret", "devpi-tls", "-n", ns, kubeconfig=kc)
    create_opaque_tls(kc, ns, inputs)
    return {}


def _user_value(kc, ns, inputs):
    return {"devpi_secrets_oauth2_client_secret": "other-" + secrets.token_urlsafe(16)}


def _past_max_age(kc, ns, inputs):
    _stamp(kc, ns, 100)
    return {"devpi_secrets_max_age_days": {"devpi-secret": 90}}


def _near_max_age(kc, ns, inputs):
    _stamp(kc, ns, 80)
    return {"devpi_secrets_max_age_days": {"devpi-secret": 90}, "devpi_secrets_audit_warning_days": 14}


def _rotation_requested(kc, ns, inputs):
    return {"devpi_secrets_rotate": ["devpi-secret"]}


def _certificate(kc, ns, inputs):
    return {"devpi_secrets_tls_expiry_warning_days": 30}  # the test leaf expires in 7 days


RISKS = {
    "secret missing": (_missing, ("devpi-secret", "secret_missing")),
    "wrong type": (_wrong_type, ("devpi-tls", "wrong_type")),
    "user value differs": (_user_value, ("devpi-oauth2-proxy-secret/client-secret", "user_value_differs")),
    "past max age": (_past_max_age, ("devpi-secret/secret", "max_age_exceeded")),
    "near max age": (_near_max_age, ("devpi-secret/secret", "max_age_near")),
    "rotation requested": (_rotation_requested, ("devpi-secret", "rotation_requested")),
    "certificate expiring": (_certificate, ("devpi-tls/tls.crt", "certificate_expiring")),
}


@pytest.mark.parametrize("risk", list(RISKS))
def test_each_risk_fails_the_audit_naming_the_entry_with_no_write(kubeconfig, namespace, inputs, tmp_path, risk):
    make, expected = RISKS[risk]
    converge(kubeconfig, namespace, inputs)
    extra = make(kubeconfig, namespace, inputs)
    secrets_before = read_secrets(kubeconfig, namespace)

    run, report, families, writes = audit(kubeconfig, namespace, inputs, tmp_path, extra=extra)
    assert run.rc != 0, run.output[-4000:]
    assert_no_writes(writes)
    assert report is not None, run.output[-4000:]
    assert reasons(report) == {expected}, report
    assert_prometheus_agrees(report, families)
    assert read_secrets(kubeconfig, namespace) == secrets_before


def test_audit_in_check_mode_writes_the_report_and_nothing_else(kubeconfig, namespace, inputs, tmp_path):
    converge(kubeconfig, namespace, inputs)
    _missing(kubeconfig, namespace, inputs)
    run, report, families, writes = audit(kubeconfig, namespace, inputs, tmp_path, "--check", "--diff")
    assert run.rc != 0
    assert_no_writes(writes)
    assert reasons(report) == {("devpi-secret", "secret_missing")}
    assert_prometheus_agrees(report, families)


@pytest.fixture
def backup(tmp_path):
    key = make_age_key(tmp_path / "keys")
    copy_file = tmp_path / "backup" / "devpi-secrets.sops.yaml"
    copy_file.parent.mkdir(mode=0o700)
    return backup_vars(copy_file, key), copy_file, sops_env()


def test_an_encrypted_copy_out_of_date_fails_the_audit_and_is_not_written(kubeconfig, namespace, inputs, tmp_path,
                                                                          backup):  # fmt: skip
    variables, copy_file, env = backup
    converge(kubeconfig, namespace, inputs, extra=variables, env=env)
    run, report, _families, writes = audit(kubeconfig, namespace, inputs, tmp_path, extra=variables, env=env)
    assert run.rc == 0 and report["ok"] is True, run.output[-4000:]

    # rotated without the copy: the cluster holds a value the copy lacks
    converge(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    copied = copy_file.read_bytes()
    run, report, families, writes = audit(kubeconfig, namespace, inputs, tmp_path, extra=variables, env=env)
    assert run.rc != 0
    assert_no_writes(writes)
    assert reasons(report) == {("devpi-secret/secret", "copy_out_of_date")}
    assert_prometheus_agrees(report, families)
    assert copy_file.read_bytes() == copied

    # no copy at all yet
    missing = dict(variables, devpi_secrets_backup_file=str(copy_file.with_name("none.sops.yaml")))
    run, report, _families, writes = audit(kubeconfig, namespace, inputs, tmp_path, extra=missing, env=env)
    assert run.rc != 0
    assert_no_writes(writes)
    assert (missing["devpi_secrets_backup_file"], "copy_missing") in reasons(report)
    assert not copy_file.with_name("none.sops.yaml").exists()


def test_no_value_in_the_report_files_or_the_output(kubeconfig, namespace, inputs, tmp_path):
    """Leak check: a failing audit at -vvv --diff (a user value that differs, a missing Secret, a rotation asked for)
    leaves no value - the cluster's, the inputs', or one drawn for the plan - in any form in its output or reports."""
    converge(kubeconfig, namespace, inputs)
    held = [
        value
        for obj in read_secrets(kubeconfig, namespace).values()
        for key, value in (obj.get("data") or {}).items()
        if key not in ("tls.crt", "client-id", "username")
    ]
    held = held + [base64.b64decode(v).decode() for v in held]
    kubectl("delete", "secret", "devpi-basic-auth-client", "-n", namespace, kubeconfig=kubeconfig)
    other = "other-" + secrets.token_urlsafe(16)
    extra = {"devpi_secrets_oauth2_client_secret": other, "devpi_secrets_rotate": ["devpi-oauth2-proxy-secret"]}
    run, report, _families, writes = audit(kubeconfig, namespace, inputs, tmp_path, "-vvv", "--diff", extra=extra)
    assert run.rc != 0 and report is not None
    assert_no_writes(writes)
    path = report_file(tmp_path)
    texts = {"output": run.output, "json": path.read_text(), "prom": path.with_suffix(".prom").read_text()}
    values = [*held, *run.values, other, inputs.client_secret, inputs.key_file.read_text().strip()]
    forms = forms_of(values)
    assert len(forms) > 20
    found = {label: [f for f, text in forms.items() if text in content] for label, content in texts.items()}
    assert all(hits == [] for hits in found.values()), found
