"""The reference manifests (examples/flux/) build, the API server accepts them, they read exactly the Secrets and keys
the role writes, and they mount devpi-secret the way devpi-server accepts it (issue 17, item 3; the pods themselves
run on a node, which the e2e suite brings)."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import yaml

from helpers.kube import KUBECTL, kubectl
from helpers.site import BASE_SECRET_NAMES, REPO


def _load_consumers():
    """plugin_utils/_consumers.py, the role's own rules (pure, no imports of the collection), from this checkout."""
    spec = importlib.util.spec_from_file_location("_consumers", REPO / "plugins" / "plugin_utils" / "_consumers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_consumers = _load_consumers()

EXAMPLES = REPO / "examples" / "flux"
TABLE = yaml.safe_load((REPO / "roles" / "devpi_secrets" / "vars" / "main.yml").read_text())["_devpi_secrets_table"]
#: what each consumer must read (the role writes more: the client Secret of a generated password is for pip and CI)
CONSUMERS = {
    ("Deployment", "devpi-server"): {"devpi-secret"},
    ("Deployment", "oauth2-proxy"): {"devpi-oauth2-proxy-secret"},
    ("Deployment", "devpi-front-door"): {"devpi-tls", "devpi-basic-auth"},
}


def build() -> list[dict]:
    proc = subprocess.run([KUBECTL, "kustomize", str(EXAMPLES)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def role_keys() -> dict[str, set[str]]:
    """Secret -> the keys the role writes into it (a `moved` key is taken out, not written)."""
    return {row["name"]: {k["key"] for k in row["keys"] if k["from"] != "moved"} for row in TABLE}


def referenced_keys(obj: dict) -> dict[str, set[str]]:
    """Secret -> keys a pod template reads: env secretKeyRef keys, a volume's items (all keys without items)."""
    pod = obj["spec"]["template"]["spec"]
    out: dict[str, set[str]] = {}
    for volume in pod.get("volumes") or []:
        sources = [volume["secret"] | {"name": volume["secret"]["secretName"]}] if "secret" in volume else []
        sources += [s["secret"] for s in (volume.get("projected") or {}).get("sources", []) if "secret" in s]
        for source in sources:
            keys = {item["key"] for item in source.get("items") or []} or {"*"}
            out.setdefault(source["name"], set()).update(keys)
    for container in pod.get("initContainers", []) + pod["containers"]:
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                out.setdefault(ref["name"], set()).add(ref["key"])
        for env_from in container.get("envFrom") or []:
            if "secretRef" in env_from:
                out.setdefault(env_from["secretRef"]["name"], set()).add("*")
    return out


def test_kustomize_builds_the_stack():
    docs = build()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    print(f"\n[flux] kubectl kustomize examples/flux: {kinds}")
    assert {(kind, name) for kind, name in kinds if kind == "Deployment"} == set(CONSUMERS)
    assert {name for kind, name in kinds if kind == "Service"} == {"devpi-server", "oauth2-proxy", "devpi-front-door"}
    assert all(d["metadata"]["namespace"] == "devpi" for d in docs)
    images = {
        c["image"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "localhost/devpi/devpi-server:6.20.3",
        "localhost/devpi/oauth2-proxy:v7.15.6",
        "localhost/devpi/nginx:bookworm",
    }


def test_the_manifests_read_exactly_the_secrets_and_keys_the_role_writes():
    written = role_keys()
    docs = {(d["kind"], d["metadata"]["name"]): d for d in build()}
    every = {}
    for workload, secrets in CONSUMERS.items():
        refs = referenced_keys(docs[workload])
        readable = {k: sorted(v) for k, v in refs.items()}
        print(f"\n[flux] {workload[1]} reads {readable}")
        assert set(refs) == secrets, workload
        for name, keys in refs.items():
            assert "*" not in keys, f"{workload[1]} reads all of {name}: name the keys it needs"
            assert keys <= written[name], (workload, name, keys - written[name])
            every.setdefault(name, set()).update(keys)
    # Every key of the four seed Secrets is read by its consumer.
    assert every == {name: written[name] for name in BASE_SECRET_NAMES}


def test_the_mounts_are_the_ones_devpi_server_accepts():
    summaries = [_consumers.summarize(d) for d in build() if d["kind"] in _consumers.WORKLOAD_KINDS]
    assert _consumers.mount_warnings(summaries, "devpi") == []
    devpi = next(d for d in build() if (d["kind"], d["metadata"]["name"]) == ("Deployment", "devpi-server"))
    pod = devpi["spec"]["template"]["spec"]
    assert "fsGroup" not in (pod.get("securityContext") or {})
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["defaultMode"] == 0o400
    (mount,) = [m for c in pod["containers"] for m in c.get("volumeMounts", []) if m["name"] == volume["name"]]
    assert mount["subPath"] == "secret"
    args = pod["containers"][0]["args"]
    assert f"--secretfile={mount['mountPath']}" in args
    # The role would restart each consumer when its Secret's data changes.
    restarts = _consumers.restarts(summaries, list(BASE_SECRET_NAMES), "devpi", "T")
    assert {(r["kind"], r["name"]): set(r["secrets"]) for r in restarts} == CONSUMERS


def test_the_api_server_accepts_them(kubeconfig, namespace):
    """A server-side dry run: every object validated by the API server (schemas, defaulting, admission) - here in a
    namespace of the test instead of `devpi`."""
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    docs = build()
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    proc = kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", kubeconfig=kubeconfig, input=manifest,
                   check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    accepted = json.loads(proc.stdout)["items"]
    assert [(d["kind"], d["metadata"]["name"]) for d in accepted] == [(d["kind"], d["metadata"]["name"]) for d in docs]
    # Nothing was created.
    left = kubectl("get", "deployments,services,configmaps,pvc", "-n", namespace, "-o", "name", kubeconfig=kubeconfig)
    assert [line for line in left.stdout.split() if not line.startswith("configmap/kube-root-ca")] == []
    # What the API server defaulted keeps the mode asked for devpi-secret.
    devpi = next(d for d in accepted if (d["kind"], d["metadata"]["name"]) == ("Deployment", "devpi-server"))
    (volume,) = [v for v in devpi["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert volume["secret"]["defaultMode"] == 0o400


def test_the_fallback_kustomization_decrypts_with_sops_and_never_prunes():
    """examples/flux/backup-fallback-kustomization.yaml: the Flux Kustomization for the folder the role writes with
    devpi_secrets_backup_flux_dir. kustomize-controller decrypts only with `decryption.provider: sops`; `prune: false`
    keeps the Secrets the role owns when a file or the Kustomization goes. It is not one of the stack's resources."""
    (doc,) = [d for d in yaml.safe_load_all((EXAMPLES / "backup-fallback-kustomization.yaml").read_text()) if d]
    assert (doc["apiVersion"], doc["kind"]) == ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
    assert doc["spec"]["decryption"]["provider"] == "sops"
    assert doc["spec"]["decryption"]["secretRef"]["name"]
    assert doc["spec"]["prune"] is False
    stack = yaml.safe_load((EXAMPLES / "kustomization.yaml").read_text())
    assert "backup-fallback-kustomization.yaml" not in stack["resources"]
