"""The read of the cluster without the kubernetes client, and the same answers as with it.

A re-run that writes nothing should not pay for importing the ``kubernetes`` client (0.2-0.3 s); for a kubeconfig of
certificates or a token, ``cluster_state`` reads over one HTTPS connection of the standard library
(plugins/plugin_utils/_kube_read.py). These tests compare its answers with the kubernetes.core path - which
``K8S_AUTH_KUBECONFIG`` selects - on the real API server: the namespace, the Secrets, a missing namespace and an RBAC
refusal; and they check that a re-run succeeds with a ``kubernetes`` package that cannot be imported first on the
path, sending one GET of the namespace and one per Secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers.api_metrics import request_counts
from helpers.kube import apply_manifest, consumer_workloads
from helpers.site import REPO, ansible_env, make_inputs, run_site

ANSIBLE = str(Path(sys.executable).parent / "ansible")
NAMES = ["devpi-tls", "devpi-secret", "devpi-oauth2-proxy-secret", "devpi-basic-auth", "devpi-basic-auth-client"]


def _lookup(kubeconfig: str, namespace: str, workloads: bool = False, **env: str) -> dict:
    """cluster_state's answer, from an ad-hoc debug task (json callback) in a process of its own."""
    expr = "{{ lookup('theedgeworks.devpi._cluster_state', namespace=%r, names=%r, kubeconfig=%r, workloads=%s) }}" % (
        namespace,
        NAMES,
        kubeconfig,
        workloads,
    )
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-m", "ansible.builtin.debug", "-a", json.dumps({"msg": expr})],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", **env),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]


def _both(kubeconfig: str, namespace: str, workloads: bool = False) -> tuple[dict, dict]:
    return (
        _lookup(kubeconfig, namespace, workloads),
        _lookup(kubeconfig, namespace, workloads, K8S_AUTH_KUBECONFIG=kubeconfig),
    )


def test_both_readers_list_the_workloads_alike(kubeconfig, namespace, tmp_path):
    """With workloads=true: one summary per Deployment, StatefulSet and DaemonSet, the same from both readers; a
    LIST the identity may not make is reported as error_in 'workloads'."""
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    apply_manifest(consumer_workloads(namespace), kubeconfig=kubeconfig)
    direct, client = _both(kubeconfig, namespace, workloads=True)
    assert direct == client
    assert direct["error"] == ""
    assert [(w["kind"], w["name"], w["references"]) for w in direct["workloads"]] == [
        ("Deployment", "reads-deployment", {"devpi-secret": ["envFrom"]}),
        ("StatefulSet", "reads-statefulset", {"devpi-secret": ["envFrom"]}),
        ("DaemonSet", "reads-daemonset", {"devpi-secret": ["envFrom"]}),
    ]
    assert _lookup(kubeconfig, namespace)["workloads"] is None


def test_both_readers_report_a_refused_list_of_workloads_alike(restricted_kubeconfig, kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    user = "dr-list-%s" % namespace[-6:]
    rules = [{"apiGroups": [""], "resources": ["namespaces", "secrets"], "verbs": ["get"]}]
    apply_manifest(
        [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user},
             "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": user},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
        ],
        kubeconfig=kubeconfig,
    )  # fmt: skip
    direct, client = _both(restricted_kubeconfig(user), namespace, workloads=True)
    assert direct == client
    assert direct["error_in"] == "workloads"
    assert direct["error"].startswith("HTTP 403 Forbidden: ")
    assert sorted(direct["secrets"]) == sorted(NAMES)


def test_both_readers_give_the_same_state(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    direct, client = _both(kubeconfig, namespace)
    assert direct == client
    assert direct["error"] == ""
    assert sorted(direct["secrets"]) == sorted(NAMES)
    assert direct["namespace"]["exists"] is True


def test_both_readers_agree_on_a_missing_namespace(kubeconfig):
    direct, client = _both(kubeconfig, "devpi-never-created")
    assert direct == client
    assert direct["namespace"]["exists"] is False
    assert direct["secrets"] == {}


def test_both_readers_report_a_refusal_alike(control_plane, restricted_kubeconfig, kubeconfig, namespace):
    # a user who may read the namespace but none of its Secrets: both readers stop at the first Secret, with the
    # API server's Status line
    user = "direct-read-%s" % namespace
    apply_manifest(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": user},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": user},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        ],
        kubeconfig=kubeconfig,
    )
    restricted = restricted_kubeconfig(user)
    direct, client = _both(restricted, namespace)
    assert direct == client
    assert direct["error_in"] == "secrets"
    assert direct["error"].startswith("HTTP 403 Forbidden: ")


def _ours(labels: dict) -> bool:
    return labels.get("resource") in ("secrets", "namespaces") and not labels.get("subresource")


def test_a_rerun_succeeds_without_the_kubernetes_client_and_only_reads(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path)
    assert run_site(kubeconfig, namespace, inputs).rc == 0
    # A `kubernetes` package first on the path that cannot be imported: any import of the client during the re-run
    # (in the controller or its forked workers) fails the read, and the run
    shadow = tmp_path / "shadow" / "kubernetes"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        'raise ImportError("shadowed: a re-run must not import the kubernetes client")\n'
    )
    before = request_counts(kubeconfig, _ours)
    run = run_site(kubeconfig, namespace, inputs, env=ansible_env(PYTHONPATH=str(shadow.parent)))
    after = request_counts(kubeconfig, _ours)
    assert run.rc == 0
    assert run.recap.get("changed") == 0
    requests = {key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0)}
    assert requests == {("GET", "namespaces"): 1, ("GET", "secrets"): len(NAMES)}
