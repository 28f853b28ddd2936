"""Shared pieces of the hardening suite: write counters split by HTTP code, secret-value scanning, RBAC manifests.

Imported by the test modules of this folder (pytest puts the folder on sys.path).
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import json
import os
import re
import shutil
import stat
from pathlib import Path

import yaml

from helpers import api_metrics
from helpers.kube import apply_manifest, kubectl, kubectl_json
from helpers.site import CALLBACKS, SECRET_NAMES, ansible_env

#: the write verbs writes_by_code counts: DELETECOLLECTION too (helpers.site.api_writes leaves it out)
WRITE_VERBS = (*api_metrics.WRITE_VERBS, "DELETECOLLECTION")


def writes_by_code(kubeconfig: str, subresources: bool = False) -> collections.Counter:
    """Write requests on secrets/namespaces by (verb, resource, code), dry runs apart as DRYRUN-<verb>.

    helpers.site.api_writes sums every code; this one keeps the code so that a refused create (409) or a refused
    patch (403/409/422) can be told from a write that took effect (200/201). With subresources=False, writes on
    subresources (namespaces/status, namespaces/finalize: the namespace controller's) are left out.
    """

    def keep(lab: dict) -> bool:
        if lab.get("verb", "") not in WRITE_VERBS or lab.get("resource") not in ("secrets", "namespaces"):
            return False
        return subresources or not lab.get("subresource")

    return api_metrics.request_counts(kubeconfig, keep, by_code=True)


def delta(before: collections.Counter, after: collections.Counter) -> dict:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


def failure_text(output: str) -> str:
    """The failure messages of a run (fatal/ERROR lines and the `msg:` that follows), for asserting on."""
    lines = output.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith(("fatal:", "[ERROR]", "ERROR!")) or line.strip().startswith("msg:"):
            out.extend(lines[i : i + 8])
    return "\n".join(out)


# --------------------------------------------------------------------------- secret values


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_values(secrets: dict) -> dict[str, str]:
    """label -> needle: every secret value of the devpi Secrets, plain and base64, and their parts.

    Not included: client-id (a public name) and tls.crt (public).
    """
    needles: dict[str, str] = {}

    def add(label: str, value: str) -> None:
        if value and len(value) >= 12:
            needles[label] = value
            needles[label + " (base64)"] = _b64(value)

    for name, obj in secrets.items():
        for key, b64value in (obj.get("data") or {}).items():
            if (name, key) in (("devpi-oauth2-proxy-secret", "client-id"), ("devpi-tls", "tls.crt")):
                continue
            plain = base64.b64decode(b64value).decode("utf-8", "replace")
            needles[f"{name}/{key} (Secret data)"] = b64value
            add(f"{name}/{key}", plain.strip())
            if key == "auth":
                for n, line in enumerate(plain.splitlines()):
                    if ":" in line:
                        add(f"{name}/auth hash of line {n}", line.split(":", 1)[1])
                        add(f"{name}/auth hash body of line {n}", line.split(":", 1)[1][7:])
            if key == "tls.key":
                for n, line in enumerate(plain.splitlines()):
                    if not line.startswith("-----"):
                        add(f"{name}/tls.key PEM line {n}", line)
    return needles


def kubeconfig_material(kubeconfig: str) -> dict[str, str]:
    """label -> needle: the inline key and certificates of a kubeconfig (client key, client certificate, CA), each as
    the kubeconfig holds it (base64) and as its PEM body lines - the forms a temporary file written from it takes."""
    needles: dict[str, str] = {}
    config = yaml.safe_load(Path(kubeconfig).read_text())
    entries = [("user", u.get("name"), u.get("user") or {}) for u in config.get("users") or []]
    entries += [("cluster", c.get("name"), c.get("cluster") or {}) for c in config.get("clusters") or []]
    for kind, name, body in entries:
        for field in ("client-key-data", "client-certificate-data", "certificate-authority-data"):
            if not body.get(field):
                continue
            label = f"kubeconfig {kind} {name} {field}"
            needles[label + " (base64)"] = body[field]
            pem = base64.b64decode(body[field]).decode("utf-8", "replace")
            for n, line in enumerate(pem.splitlines()):
                if not line.startswith("-----") and len(line) >= 16:
                    needles[f"{label} PEM line {n}"] = line
    return needles


def find_leaks(text: str, needles: dict[str, str]) -> list[str]:
    return sorted(label for label, value in needles.items() if value in text)


def scan_files(roots: list[Path], needles: dict[str, str], exclude: set[Path] = frozenset()) -> list[str]:
    """Files under roots (recursively) holding any needle: 'path (mode 0o600): labels'."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.resolve() in exclude:
                continue
            try:
                text = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            hits = find_leaks(text, needles)
            if hits:
                found.append(f"{path} (mode {oct(stat.S_IMODE(path.stat().st_mode))}): {', '.join(hits)}")
    return found


def isolated_env(base: Path, **extra: str) -> tuple[dict, list[Path]]:
    """An ansible env with a fresh HOME, TMPDIR, ANSIBLE_LOCAL_TEMP and ANSIBLE_REMOTE_TEMP under base."""
    dirs = {name: base / name for name in ("home", "tmp", "local_tmp", "remote_tmp")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = ansible_env(
        HOME=str(dirs["home"]),
        TMPDIR=str(dirs["tmp"]),
        ANSIBLE_LOCAL_TEMP=str(dirs["local_tmp"]),
        ANSIBLE_REMOTE_TEMP=str(dirs["remote_tmp"]),
        **extra,
    )
    return env, list(dirs.values())


def metadata_findings(kubeconfig: str, namespace: str, needles: dict[str, str]) -> list[str]:
    """Values in annotations/managedFields of the devpi Secrets, and any last-applied-configuration."""
    items = kubectl_json("get", "secrets", "-n", namespace, "--show-managed-fields", kubeconfig=kubeconfig)["items"]
    out = []
    for obj in items:
        meta = obj["metadata"]
        if meta["name"] not in SECRET_NAMES:
            continue
        annotations = meta.get("annotations") or {}
        if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
            out.append(f"{meta['name']}: last-applied-configuration annotation")
        blob = json.dumps({"annotations": annotations, "managedFields": meta.get("managedFields")})
        out += [f"{meta['name']} metadata: {hit}" for hit in find_leaks(blob, needles)]
    return out


# --------------------------------------------------------------------------- RBAC


#: the workload resources the role lists and restarts (API group apps), see plugins/plugin_utils/_consumers.py
APPS_RESOURCES = ("deployments", "statefulsets", "daemonsets")


def _apps_rules(rules: dict[str, list[str]]) -> list[dict]:
    return [
        {"apiGroups": ["apps"], "resources": [res], "verbs": list(rules[res])}
        for res in APPS_RESOURCES
        if rules.get(res)
    ]


def rbac_objects(user: str, namespace: str, rules: dict[str, list[str]], scope_secrets: str = "namespace") -> list:
    """Role/ClusterRole objects and their bindings for `user`.

    rules: {"namespaces": [verbs], "secrets": [verbs]}, and the verbs on each of APPS_RESOURCES (API group apps,
    where the secrets rights go). `get` on namespaces is restricted to `namespace` by resourceNames (as in the
    README); other namespace verbs (create) get a rule of their own without resourceNames (create cannot be
    restricted by name). Secrets rights go into a Role in `namespace` (scope_secrets="namespace") or, when the
    namespace does not exist yet, into a ClusterRole bound cluster-wide (scope_secrets="cluster").
    """
    tag = re.sub(r"[^a-z0-9-]", "-", user.lower())
    subject = [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]
    objs = []
    ns_rules = []
    ns_verbs = list(rules.get("namespaces", []))
    named = [v for v in ns_verbs if v in ("get", "patch", "update", "delete")]
    unnamed = [v for v in ns_verbs if v not in named]
    if named:
        ns_rules.append({"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [namespace], "verbs": named})
    if unnamed:
        ns_rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": unnamed})
    if scope_secrets == "cluster" and rules.get("secrets"):
        ns_rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": list(rules["secrets"])})
    if scope_secrets == "cluster":
        ns_rules += _apps_rules(rules)
    if ns_rules:
        objs += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"{tag}-{namespace}"},
                "rules": ns_rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{tag}-{namespace}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{tag}-{namespace}",
                },
                "subjects": subject,
            },
        ]
    if scope_secrets == "namespace" and rules.get("secrets") is not None:
        secret_rules = rules.get("secret_rules") or [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": list(rules["secrets"])},
            *_apps_rules(rules),
        ]
        objs += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": tag, "namespace": namespace},
                "rules": secret_rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": tag, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": tag},
                "subjects": subject,
            },
        ]
    return objs


def grant(kubeconfig: str, objs: list) -> None:
    """Apply RBAC objects (replacing earlier versions) and wait until the authorizer sees them."""
    if objs:
        apply_manifest(objs, kubeconfig=kubeconfig, verb=("apply", "--server-side", "--force-conflicts"))


def delete_cluster_rbac(kubeconfig: str, objs: list) -> None:
    for obj in objs:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            kubectl("delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found", kubeconfig=kubeconfig)


def parallel(fns, workers: int = 3) -> list:
    """Call every zero-argument function in a small thread pool; results in order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda f: f(), fns))


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def env_with_callback(base_env: dict | None = None, **extra: str) -> dict:
    """An ansible env that also loads the fault-injection callback (tests/callback_plugins/hardening_hooks.py)."""
    env = dict(base_env or ansible_env())
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
    env["ANSIBLE_CALLBACKS_ENABLED"] = "devpi_capture,hardening_hooks"
    env.update(extra)
    return env


def kube_env() -> dict:
    return dict(os.environ)


def drop_finalizers(kubeconfig: str, namespace: str, kind: str, name: str) -> None:
    kubectl(
        "patch",
        kind,
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
        kubeconfig=kubeconfig,
        check=False,
    )
