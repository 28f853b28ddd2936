"""Rotations reach the consumers: after a run changes a Secret's data, the workloads whose pod templates reference it
get a new `kubectl.kubernetes.io/restartedAt` - only those, only then (issue 17, items 4 and 5).

On the local API-only control plane (no node: the objects are read back, not their pods): a Deployment, a
StatefulSet and a DaemonSet reference the Secrets in each of the four ways (volume, projected volume,
env valueFrom.secretKeyRef in an init container, envFrom.secretRef), one references nothing, one mounts devpi-secret
as a whole volume (what devpi-server refuses: the warning names it). Writes are counted from the API server's
/metrics (PATCH on deployments/statefulsets/daemonsets), dry runs apart.
"""

from __future__ import annotations

import collections

import pytest

from helpers.api_metrics import WRITE_VERBS, request_counts
from helpers.kube import apply_manifest, kubectl, kubectl_json
from helpers.site import api_writes, data_of, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_RESOURCES = ("deployments", "statefulsets", "daemonsets")
IMAGE = "localhost/devpi/devpi-server:6.20.3"


def _container(name: str, **extra) -> dict:
    return {"name": name, "image": IMAGE, **extra}


def _workload(kind: str, name: str, pod_spec: dict) -> dict:
    labels = {"app": name}
    spec = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod_spec}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def workloads(namespace: str) -> list[dict]:
    """The consumers of the test, by the way each references its Secret."""
    objs = [
        # volume, mounted the way devpi-server accepts it (subPath, 0400, no fsGroup): no warning
        _workload("Deployment", "by-volume", {
            "containers": [_container("devpi", volumeMounts=[
                {"name": "secret", "mountPath": "/run/devpi/secret", "subPath": "secret", "readOnly": True}])],
            "volumes": [{"name": "secret", "secret": {"secretName": "devpi-secret", "defaultMode": 0o400}}],
        }),
        # projected volume: the oauth2-proxy Secret
        _workload("StatefulSet", "by-projected", {
            "containers": [_container("proxy", volumeMounts=[{"name": "all", "mountPath": "/etc/proxy"}])],
            "volumes": [{"name": "all", "projected": {"sources": [
                {"configMap": {"name": "not-a-secret"}},
                {"secret": {"name": "devpi-oauth2-proxy-secret"}},
            ]}}],
        }),
        # env valueFrom.secretKeyRef, in an init container
        _workload("DaemonSet", "by-env", {
            "initContainers": [_container("init", env=[
                {"name": "PLAIN", "value": "x"},
                {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "devpi-secret", "key": "secret"}}}])],
            "containers": [_container("main")],
        }),
        # envFrom.secretRef
        _workload("Deployment", "by-envfrom", {
            "containers": [_container("main", envFrom=[{"secretRef": {"name": "devpi-secret"}}])],
        }),
        # references nothing of ours
        _workload("Deployment", "unrelated", {
            "containers": [_container("main", envFrom=[{"secretRef": {"name": "someone-elses"}}])],
            "volumes": [{"name": "cfg", "configMap": {"name": "devpi-secret"}}],  # a ConfigMap of the same name
        }),
        # devpi-secret as a whole volume: the folder is 1777 and the file 0644, devpi-server refuses it
        _workload("Deployment", "bad-mount", {
            "containers": [_container("devpi", volumeMounts=[{"name": "secret", "mountPath": "/run/devpi"}])],
            "volumes": [{"name": "secret", "secret": {"secretName": "devpi-secret"}}],
        }),
    ]  # fmt: skip
    for obj in objs:
        obj["metadata"]["namespace"] = namespace
    return objs


REFERENCES_DEVPI_SECRET = {("Deployment", "by-volume"), ("DaemonSet", "by-env"), ("Deployment", "by-envfrom"),
                           ("Deployment", "bad-mount")}  # fmt: skip
REFERENCES_OAUTH2 = {("StatefulSet", "by-projected")}
ALL = REFERENCES_DEVPI_SECRET | REFERENCES_OAUTH2 | {("Deployment", "unrelated")}


def workload_writes(kubeconfig: str) -> collections.Counter:
    """Write requests on the three workload resources so far, by (verb, resource); dry runs as DRYRUN-<verb>."""
    return request_counts(
        kubeconfig, lambda lab: lab.get("verb", "") in WRITE_VERBS and lab.get("resource") in WORKLOAD_RESOURCES
    )


def restarted_at(kubeconfig: str, namespace: str) -> dict:
    """(kind, name) -> the pod template's restartedAt annotation (None without), and its generation."""
    out = {}
    for resource in WORKLOAD_RESOURCES:
        for obj in kubectl_json("get", resource, "-n", namespace, kubeconfig=kubeconfig)["items"]:
            annotations = obj["spec"]["template"].get("metadata", {}).get("annotations") or {}
            out[(obj["kind"], obj["metadata"]["name"])] = annotations.get(RESTARTED_AT)
    return out


def restart_report(run) -> dict:
    return (run.captured.get("localhost") or {}).get("restart") or {}


def named(report: dict) -> dict:
    """(kind, name) -> action of the workloads the report names."""
    return {(w["kind"], w["name"]): w["action"] for w in report.get("workloads", [])}


@pytest.fixture
def prepared(kubeconfig, namespace, inputs):
    """The Secrets made by a first run, then the workloads."""
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    first = run_site(kubeconfig, namespace, inputs)
    assert first.rc == 0, first.output[-4000:]
    apply_manifest(workloads(namespace), kubeconfig=kubeconfig)
    assert set(restarted_at(kubeconfig, namespace)) == ALL
    return kubeconfig, namespace, inputs


def test_rotation_restarts_exactly_the_consumers_and_rerun_restarts_nothing(prepared):
    kubeconfig, namespace, inputs = prepared
    before = restarted_at(kubeconfig, namespace)
    assert all(value is None for value in before.values())

    writes = workload_writes(kubeconfig)
    rotated = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert rotated.rc == 0, rotated.output[-4000:]
    assert rotated.action("devpi-secret") == "rotated"
    patches = writes_between(writes, workload_writes(kubeconfig))
    after = restarted_at(kubeconfig, namespace)
    print(
        f"\n[restart] rotate devpi-secret: workload writes {patches}; restarted {sorted(k for k in after if after[k])}"
    )
    assert {k for k, v in after.items() if v} == REFERENCES_DEVPI_SECRET
    assert patches == {("PATCH", "deployments"): 3, ("PATCH", "daemonsets"): 1}, patches
    assert named(restart_report(rotated)) == {k: "restarted" for k in REFERENCES_DEVPI_SECRET}
    for entry in restart_report(rotated)["workloads"]:
        assert entry["secrets"] == ["devpi-secret"]

    # a re-run writes nothing, restarts nothing
    writes, secret_writes = workload_writes(kubeconfig), api_writes(kubeconfig)
    rerun = run_site(kubeconfig, namespace, inputs)
    assert rerun.rc == 0 and rerun.recap.get("changed") == 0, rerun.output[-4000:]
    assert writes_between(writes, workload_writes(kubeconfig)) == {}
    assert writes_between(secret_writes, api_writes(kubeconfig)) == {}
    assert restarted_at(kubeconfig, namespace) == after
    assert named(restart_report(rerun)) == {}

    # rotating the oauth2-proxy Secret reaches the projected volume only
    writes = workload_writes(kubeconfig)
    oauth = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_rotate": ["devpi-oauth2-proxy-secret"]})
    assert oauth.rc == 0, oauth.output[-4000:]
    assert writes_between(writes, workload_writes(kubeconfig)) == {("PATCH", "statefulsets"): 1}
    latest = restarted_at(kubeconfig, namespace)
    assert {k for k in ALL if latest[k] != after[k]} == REFERENCES_OAUTH2
    assert named(restart_report(oauth)) == {k: "restarted" for k in REFERENCES_OAUTH2}


def test_check_mode_names_the_consumers_and_writes_nothing(prepared):
    kubeconfig, namespace, inputs = prepared
    before, secrets_before = restarted_at(kubeconfig, namespace), data_of(read_secrets(kubeconfig, namespace))
    writes = workload_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, "--check", extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert run.rc == 0, run.output[-4000:]
    delta = writes_between(writes, workload_writes(kubeconfig))
    dry = writes_between(writes, workload_writes(kubeconfig), dry_run=True)
    assert delta == {} and dry == {}, (delta, dry)
    assert restarted_at(kubeconfig, namespace) == before
    assert data_of(read_secrets(kubeconfig, namespace)) == secrets_before
    report = restart_report(run)
    assert report["check_mode"] is True
    assert named(report) == {k: "would restart" for k in REFERENCES_DEVPI_SECRET}


def test_turned_off_no_workload_is_read_or_patched(prepared):
    kubeconfig, namespace, inputs = prepared
    before = restarted_at(kubeconfig, namespace)
    lists = request_counts(
        kubeconfig, lambda lab: lab.get("verb") == "LIST" and lab.get("resource") in WORKLOAD_RESOURCES
    )
    writes = workload_writes(kubeconfig)
    run = run_site(
        kubeconfig,
        namespace,
        inputs,
        extra={"devpi_secrets_rotate": ["devpi-secret"], "devpi_secrets_restart_consumers": "false"},  # a string, -e
    )
    assert run.rc == 0, run.output[-4000:]
    assert run.action("devpi-secret") == "rotated"
    assert writes_between(writes, workload_writes(kubeconfig)) == {}
    lists_after = request_counts(
        kubeconfig, lambda lab: lab.get("verb") == "LIST" and lab.get("resource") in WORKLOAD_RESOURCES
    )
    assert lists_after == lists
    assert restarted_at(kubeconfig, namespace) == before
    assert restart_report(run)["enabled"] is False
    assert named(restart_report(run)) == {}


def test_a_mount_devpi_refuses_is_named_in_the_report(prepared):
    kubeconfig, namespace, inputs = prepared
    run = run_site(kubeconfig, namespace, inputs)
    assert run.rc == 0, run.output[-4000:]
    warnings = restart_report(run)["mount_warnings"]
    found = {(w["kind"], w["name"], w["container"], w["secret"], w["problem"]) for w in warnings}
    print(f"\n[restart] mount warnings: {sorted(found)}")
    assert ("Deployment", "bad-mount", "devpi", "devpi-secret", "no-subpath") in found
    assert ("Deployment", "bad-mount", "devpi", "devpi-secret", "mode") in found  # 0644 by default
    assert {item[:2] for item in found} == {("Deployment", "bad-mount")}
    # ... and each is one of the run's warnings
    assert {w["message"] for w in warnings} <= set(run.warnings)


def test_a_restart_at_verbose_diff_prints_no_part_of_the_workload(prepared):
    """-v --diff shows what the role changed in its Secrets, not the restarted workloads (their env and annotations are
    not the collection's to print): the report names the restart."""
    kubeconfig, namespace, inputs = prepared
    marker = "workload-only-" + namespace
    kubectl("-n", namespace, "annotate", "deployment", "by-volume", f"example.com/note={marker}", kubeconfig=kubeconfig)
    before = restarted_at(kubeconfig, namespace)
    run = run_site(kubeconfig, namespace, inputs, "-v", "--diff", extra={"devpi_secrets_rotate": ["devpi-secret"]})
    assert run.rc == 0, run.output[-4000:]
    assert restarted_at(kubeconfig, namespace)[("Deployment", "by-volume")] != before[("Deployment", "by-volume")]
    assert named(restart_report(run))[("Deployment", "by-volume")] == "restarted"
    assert marker not in run.output
