"""Small helpers around kubectl and tools/cluster.py for tests.

from helpers.kube import kubectl
out = kubectl("get", "ns", "-o", "name", kubeconfig=kubeconfig).stdout
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

from helpers import tools

REPO = Path(__file__).resolve().parents[2]
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl") or "/usr/bin/kubectl"


#: tools/cluster.py, imported as a module (ControlPlane, ControlPlaneError, ...)
cluster = tools.cluster


def kubectl(
    *args: str, kubeconfig: str | os.PathLike, input: str | None = None, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run kubectl against `kubeconfig`; text output. check=True raises with stderr shown."""
    cmd = [KUBECTL, f"--kubeconfig={kubeconfig}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd[:1] + list(args))} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


def kubectl_json(*args: str, kubeconfig: str | os.PathLike, **kw):
    return json.loads(kubectl(*args, "-o", "json", kubeconfig=kubeconfig, **kw).stdout)


def apply_manifest(
    manifest: dict | Sequence[dict], *, kubeconfig: str | os.PathLike, verb: Sequence[str] = ("apply", "--server-side")
) -> subprocess.CompletedProcess:
    """Send one object or a list of objects (as JSON) through `kubectl <verb> -f -`."""
    doc = manifest if isinstance(manifest, dict) else {"apiVersion": "v1", "kind": "List", "items": list(manifest)}
    return kubectl(*verb, "-f", "-", kubeconfig=kubeconfig, input=json.dumps(doc))


def namespace_exists(name: str, *, kubeconfig: str | os.PathLike) -> bool:
    proc = kubectl("get", "namespace", name, "-o", "name", "--ignore-not-found", kubeconfig=kubeconfig)
    return bool(proc.stdout.strip())


def delete_namespace(name: str, *, kubeconfig: str | os.PathLike, timeout: float = 90) -> bool:
    """Delete a namespace and wait until it is gone. True if gone within timeout."""
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", kubeconfig=kubeconfig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not namespace_exists(name, kubeconfig=kubeconfig):
            return True
        time.sleep(0.5)
    return not namespace_exists(name, kubeconfig=kubeconfig)


def echoing_policy(name: str, namespaces: list[str]) -> list[dict]:
    """Refuses every write of a Secret in `namespaces`, quoting its data (the old data for a DELETE)."""
    data = "(request.operation == 'DELETE' ? oldObject : object).data"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE", "DELETE"],
                            "resources": ["secrets"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "false",
                        "messageExpression": f"'refused, data: ' + {data}.map(k, k + '=' + string({data}[k]))"
                        ".join(', ')",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(namespaces)}
                        ]
                    }
                },
            },
        },
    ]


def consumer_workloads(namespace: str, secret: str = "devpi-secret") -> list[dict]:  # noqa: S107 - a name
    """A Deployment, a StatefulSet and a DaemonSet that read `secret` (envFrom), for the role to restart."""
    objs = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        name = f"reads-{kind.lower()}"
        labels = {"app": name}
        pod = {"containers": [{"name": "main", "image": "localhost/devpi/devpi-server:6.20.3",
                               "envFrom": [{"secretRef": {"name": secret}}]}]}  # fmt: skip
        spec = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}
        if kind == "StatefulSet":
            spec["serviceName"] = name
        objs.append({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
                     "spec": spec})  # fmt: skip
    return objs
