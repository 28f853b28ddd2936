"""Least privilege: the rights the role needs, measured with a restricted identity on the real API server.

MINIMUM is what the runs need (first run, re-run, rotation of everything); each of its verbs is then removed in turn
and the run must fail with a message naming the refused operation. Two variants:

- "ns-exists": namespace made beforehand, devpi_secrets_create_namespace=false, secrets rights in a Role there;
- "role-creates-ns": the role creates the namespace. A Role cannot be bound in a namespace that does not exist yet,
  so the secrets rights have to come from a ClusterRole bound cluster-wide in this variant.

With devpi_secrets_restart_consumers on (the default) the role also lists the namespace's Deployments, StatefulSets
and DaemonSets and restarts those that read a Secret whose data changed: where the namespace exists first, one of
each reads devpi-secret, so the first run and the rotation patch them (and kubernetes.core reads each before).

A third, "named", runs with the README's first Role as written there: `get` and `patch` on the five Secrets by
`resourceNames`, `create` without (it cannot be restricted by name), no `list`. With it the runs pass, the named
Secrets are readable and a Secret of the namespace that is not named is not (nor is the list of Secrets).

Runs are independent and go through a pool of 3 (a module-scoped fixture); the parametrized tests read the results.
Identities are minted with the session control plane's CA (like the restricted_kubeconfig fixture, which is
function-scoped and so cannot feed a module-scoped batch).
"""

from __future__ import annotations

import re
import secrets

import pytest
import yaml
from hardening_support import (
    APPS_RESOURCES,
    delete_cluster_rbac,
    failure_text,
    grant,
    parallel,
    rbac_objects,
)

from helpers.kube import apply_manifest, consumer_workloads, kubectl
from helpers.site import REPO, SECRET_NAMES, create_opaque_tls, make_inputs, read_secrets, run_site

pytestmark = pytest.mark.integration

MINIMUM = {"namespaces": ["get"], "secrets": ["get", "create", "patch"]}
#: restarting the consumers (devpi_secrets_restart_consumers, default true): on each workload resource (apps)
APPS = {res: ["get", "list", "patch"] for res in APPS_RESOURCES}
VARIANTS = {
    "ns-exists": {"create_ns": False, "scope": "namespace", "extra_ns": [], "extra_secrets": []},
    # The README's first Role, its secrets rules as written there (resourceNames).
    "named": {"create_ns": False, "scope": "namespace", "extra_ns": [], "extra_secrets": [], "readme_role": True},
    "role-creates-ns": {"create_ns": True, "scope": "cluster", "extra_ns": ["create"], "extra_secrets": []},
    # devpi_secrets_replace_wrong_type: an Opaque devpi-tls is deleted and created again.
    "replaces-wrong-type": {"create_ns": False, "scope": "namespace", "extra_ns": [], "extra_secrets": ["delete"]},
}
REMOVALS = [
    (variant, resource, verb)
    for variant, spec in VARIANTS.items()
    for resource, verbs in (
        ("namespaces", MINIMUM["namespaces"] + spec["extra_ns"]),
        ("secrets", MINIMUM["secrets"] + spec["extra_secrets"]),
        *APPS.items(),
    )
    for verb in verbs
    if variant != "named"  # the README's Role: run as written, not taken apart
    if variant != "replaces-wrong-type" or verb == "delete"  # the other verbs are the ns-exists variant's
    # A namespace the role creates holds no workload on the first run: the apps rights are the ns-exists variant's.
    if variant != "role-creates-ns" or resource not in APPS
]
NOT_NAMED = "not-a-devpi-secret"
_VALID_SECRET = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes, as the role generates


def _rules(variant: str, removed: tuple[str, str] | None = None) -> dict:
    spec = VARIANTS[variant]
    rules = {
        "namespaces": MINIMUM["namespaces"] + spec["extra_ns"],
        "secrets": MINIMUM["secrets"] + spec["extra_secrets"],
        **APPS,
    }
    if removed:
        rules[removed[0]] = [v for v in rules[removed[0]] if v != removed[1]]
    if spec.get("readme_role"):
        rules["secret_rules"] = _readme_role()["rules"]
    return rules


def _readme_blocks() -> list[list]:
    """The YAML documents of each block of the README's RBAC section."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Least-privilege RBAC", 1)[1].split("\n## ", 1)[0]
    return [list(yaml.safe_load_all(b)) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _readme_role() -> dict:
    """The Role of the README's first block (the Secrets rights when the namespace exists)."""
    return next(doc for doc in _readme_blocks()[0] if isinstance(doc, dict) and doc.get("kind") == "Role")


@pytest.fixture(scope="module")
def lp(control_plane, kubeconfig, module_namespaces, tmp_path_factory):
    if control_plane is None:
        pytest.skip("restricted identities need the local control plane's CA")
    root = tmp_path_factory.mktemp("lp")
    inputs = make_inputs(root / "inputs")
    created_rbac: list = []

    def setup(variant: str, removed=None, state: str = "empty"):
        if variant == "replaces-wrong-type":
            state = "opaque-tls"
        ns = module_namespaces("lp")
        user = f"lp-{secrets.token_hex(4)}"
        kc = str(control_plane.mint_kubeconfig(user, [], root / f"{user}.kubeconfig"))
        if not VARIANTS[variant]["create_ns"] or state != "empty":
            kubectl("create", "namespace", ns, kubeconfig=kubeconfig)
        if state == "unlabeled-secret":
            kubectl(
                "create",
                "secret",
                "generic",
                "devpi-secret",
                "-n",
                ns,
                f"--from-literal=secret={_VALID_SECRET}",
                kubeconfig=kubeconfig,
            )
        if state == "opaque-tls":
            create_opaque_tls(kubeconfig, ns, inputs)
        if not VARIANTS[variant]["create_ns"]:  # consumers of devpi-secret, restarted when it is made or rotated
            apply_manifest(consumer_workloads(ns), kubeconfig=kubeconfig)
        if variant == "named":  # a Secret the Role does not name
            kubectl("create", "secret", "generic", NOT_NAMED, "-n", ns, "--from-literal=k=v", kubeconfig=kubeconfig)
        objs = rbac_objects(user, ns, _rules(variant, removed), scope_secrets=VARIANTS[variant]["scope"])
        created_rbac.extend(objs)
        grant(kubeconfig, objs)
        extra = {"devpi_secrets_create_namespace": VARIANTS[variant]["create_ns"]}
        if variant == "replaces-wrong-type":
            extra["devpi_secrets_replace_wrong_type"] = True
        return kc, ns, extra

    def full(variant):
        def job():
            kc, ns, extra = setup(variant)
            out = []
            for label, more in (("first", {}), ("re-run", {}), ("rotate all", {"devpi_secrets_rotate": "all"})):
                run = run_site(kc, ns, inputs, extra=extra | more, workdir=root / ns)
                out.append((label, run))
                if run.rc != 0:
                    break
            reads = {}
            if variant == "named":  # what the identity itself may read afterwards: exit codes of kubectl
                for label, args in (
                    ("get devpi-secret", ("get", "secret", "devpi-secret")),
                    (f"get {NOT_NAMED}", ("get", "secret", NOT_NAMED)),
                    ("list secrets", ("get", "secrets")),
                ):
                    reads[label] = kubectl(*args, "-n", ns, "-o", "name", kubeconfig=kc, check=False).returncode
            return {"runs": out, "secrets": read_secrets(kubeconfig, ns), "reads": reads}

        return job

    def removal(variant, resource, verb):
        def job():
            needs_existing = (resource, verb) == ("secrets", "patch")  # a Secret to update
            kc, ns, extra = setup(variant, (resource, verb), "unlabeled-secret" if needs_existing else "empty")
            return {
                "run": run_site(kc, ns, inputs, extra=extra, workdir=root / ns),
                "secrets": read_secrets(kubeconfig, ns) if _ns_exists(kubeconfig, ns) else {},
            }

        return job

    jobs = {("full", v): full(v) for v in VARIANTS}
    jobs.update({("removed", *case): removal(*case) for case in REMOVALS})
    results = dict(zip(jobs, parallel(list(jobs.values()), workers=3)))
    yield results
    delete_cluster_rbac(kubeconfig, created_rbac)


def _ns_exists(kubeconfig, ns):
    return bool(kubectl("get", "ns", ns, "--ignore-not-found", "-o", "name", kubeconfig=kubeconfig).stdout.strip())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_minimum_rights_suffice(lp, variant):
    result = lp[("full", variant)]
    summary = [(label, run.rc, run.recap.get("changed")) for label, run in result["runs"]]
    rules = _rules(variant)
    print(f"\n[hardening] least privilege {variant}: rules {rules} -> runs (step, rc, changed) {summary}")
    for label, run in result["runs"]:
        assert run.rc == 0, f"{label}: {failure_text(run.output)[-3000:]}"
    assert [label for label, _run in result["runs"]] == ["first", "re-run", "rotate all"]
    assert result["runs"][1][1].recap.get("changed") == 0
    if not VARIANTS[variant]["create_ns"]:  # the consumers of devpi-secret were restarted with these rights
        for label, run in result["runs"]:
            restarted = [w["action"] for w in (run.captured["localhost"]["restart"] or {}).get("workloads", [])]
            assert restarted == ([] if label == "re-run" else ["restarted"] * 3), (label, restarted)
    assert set(result["secrets"]) == set(SECRET_NAMES)


def test_readme_named_role_reads_only_the_named_secrets(lp):
    role = _readme_role()
    named = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    reads = lp[("full", "named")]["reads"]
    print(f"\n[hardening] README Role names {sorted(named)}; kubectl exit codes with it: {reads}")
    assert named == set(SECRET_NAMES)
    secret_rules = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    assert all(rule.get("resourceNames") or rule["verbs"] == ["create"] for rule in secret_rules)
    assert reads["get devpi-secret"] == 0
    assert reads[f"get {NOT_NAMED}"] != 0
    assert reads["list secrets"] != 0


@pytest.mark.parametrize("variant,resource,verb", REMOVALS, ids=[f"{v}-no-{r}-{b}" for v, r, b in REMOVALS])
def test_each_right_is_needed(lp, variant, resource, verb):
    result = lp[("removed", variant, resource, verb)]
    run = result["run"]
    message = failure_text(run.output)
    print(
        f"\n[hardening] least privilege {variant} without {verb} {resource}: rc={run.rc}, "
        f"Secrets left: {sorted(result['secrets'])}"
    )
    assert run.rc != 0, f"the run succeeded without {verb} on {resource}; Secrets: {sorted(result['secrets'])}"
    assert "forbidden" in message.lower(), message[-3000:]
    assert f'cannot {verb} resource \\"{resource}\\"' in message or f'cannot {verb} resource "{resource}"' in message, (
        message[-3000:]
    )


def _granted(docs: list) -> dict[str, set]:
    granted: dict[str, set] = {}
    for doc in docs:
        rules = doc.get("rules", []) if isinstance(doc, dict) else doc  # a block may list bare rules
        for rule in rules or []:
            for res in rule["resources"]:
                granted.setdefault(res, set()).update(rule["verbs"])
    return granted


def test_readme_rbac_grants_exactly_the_measured_minimum():
    """Every YAML block of the README's RBAC section, against what the runs above measured, exactly: the first
    grants the namespace-exists variant, the second what creating the namespace adds, the third what replacing a
    wrong-type Secret adds."""
    blocks = [_granted(docs) for docs in _readme_blocks()]
    expected = [
        {res: set(verbs) for res, verbs in _rules("ns-exists").items()},  # the "named" variant runs it as written
        # added to the ClusterRole, cluster-wide
        {"namespaces": {"create"}, "secrets": set(MINIMUM["secrets"]), **{res: set(v) for res, v in APPS.items()}},
        {"secrets": {"delete"}},
    ]
    print(f"\n[hardening] README RBAC blocks {blocks}; measured {expected}")
    assert blocks == expected
