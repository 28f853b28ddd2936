"""Bad input: every case fails with a message naming the variable and writes nothing to the cluster.

The cases run against a namespace that site.yml has already filled (so that "writes nothing" is tested against real
Secrets): every Secret's resourceVersion is compared before/after the whole batch, and so is the API server's count
of write requests (helpers.site.api_writes). The cases run in a pool of 3 (they are independent), so the write count
is checked for the batch: a total of zero writes means zero for each case.

"Unreadable key file": the tests run as root, for whom chmod 000 does not make a file unreadable. A directory and a
broken symlink stand in for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hardening_support import delta, drop_finalizers, failure_text, parallel, writes_by_code

from helpers.kube import kubectl
from helpers.site import (
    SECRET_NAMES,
    api_writes,
    create_opaque_tls,
    make_inputs,
    resource_versions,
    run_playbook,
    run_site,
    writes_between,
)
from helpers.tools import pki

pytestmark = pytest.mark.integration


@dataclass
class Case:
    id: str
    expect: list[str]
    extra: dict = field(default_factory=dict)
    files: str = ""  # which TLS files to use (see _files)
    namespace: str = "filled"  # "filled" or "opaque-tls"
    kubeconfig: str = "admin"  # "admin", "unreachable" or "missing"
    ok: bool = False  # a positive control
    drop: tuple = ()  # variables left out entirely


CASES = [
    Case("cert-missing", ["devpi_secrets_tls_cert_file", "not a readable PEM certificate"], files="cert-missing"),
    Case("key-is-a-directory", ["devpi_secrets_tls_key_file", "not a readable"], files="key-dir"),
    Case("key-broken-symlink", ["devpi_secrets_tls_key_file", "missing or unreadable"], files="key-symlink"),
    Case(
        "key-of-another-pair",
        ["devpi_secrets_tls_key_file", "is not the key of devpi_secrets_tls_cert_file"],
        files="mismatched",
    ),
    Case("cert-other-host", ["does not cover devpi_secrets_tls_host", "other.example.test"], files="other-host"),
    Case("cert-expired", ["devpi_secrets_tls_cert_file", "expired on"], files="expired"),
    Case("cert-not-yet-valid", ["devpi_secrets_tls_cert_file", "not valid yet"], files="not-yet-valid"),
    Case("key-given-as-cert", ["devpi_secrets_tls_cert_file", "not a readable PEM certificate"], files="key-as-cert"),
    Case("client-secret-empty", ["devpi_secrets_oauth2_client_secret"], {"devpi_secrets_oauth2_client_secret": ""}),
    Case("client-secret-blank", ["devpi_secrets_oauth2_client_secret"], {"devpi_secrets_oauth2_client_secret": " \t "}),
    Case("client-secret-missing", ["devpi_secrets_oauth2_client_secret"], drop=("devpi_secrets_oauth2_client_secret",)),
    Case("user-with-colon", ["devpi_secrets_basic_auth_user"], {"devpi_secrets_basic_auth_user": "pypi:user"}),
    Case("user-with-newline", ["devpi_secrets_basic_auth_user"], {"devpi_secrets_basic_auth_user": "pypi\nuser"}),
    # Rules of module_utils/rules.py that the 1.0.0 role only met inside a no_log task (censored there).
    Case("user-hash-first", ["devpi_secrets_basic_auth_user", "'#'"], {"devpi_secrets_basic_auth_user": "#pypi"}),
    Case("user-with-tab", ["devpi_secrets_basic_auth_user", "tab"], {"devpi_secrets_basic_auth_user": "pypi\tuser"}),
    Case("user-with-nul", ["devpi_secrets_basic_auth_user", "NUL"], {"devpi_secrets_basic_auth_user": "pypi\x00user"}),
    Case(
        "user-blank-around", ["devpi_secrets_basic_auth_user", "white space"], {"devpi_secrets_basic_auth_user": " u"}
    ),
    Case(
        "password-with-nul",
        ["devpi_secrets_basic_auth_password", "NUL, CR or LF"],
        {"devpi_secrets_basic_auth_password": "long-password\x00with-a-nul"},
    ),
    Case(
        "client-secret-newline",
        ["devpi_secrets_oauth2_client_secret", "line break"],
        {"devpi_secrets_oauth2_client_secret": "abc\ndef"},
    ),
    Case("client-id-blank", ["devpi_secrets_oauth2_client_id"], {"devpi_secrets_oauth2_client_id": " "}),
    Case("label-bad-key", ["devpi_secrets_labels", "bad key!"], {"devpi_secrets_labels": {"bad key!": "x"}}),
    Case("label-number", ["devpi_secrets_labels", "must be a string"], {"devpi_secrets_labels": {"tier": 1}}),
    Case(
        "expiry-days-negative", ["devpi_secrets_tls_expiry_warning_days"], {"devpi_secrets_tls_expiry_warning_days": -1}
    ),
    Case("kubeconfig-missing", ["devpi_secrets_kubeconfig", "not a readable file"], kubeconfig="missing"),
    Case(
        "keycloak-url-not-a-url",
        ["devpi_secrets_keycloak_url", "must be a base URL"],
        {"devpi_secrets_keycloak_url": "sso.theedgeworks.ai", "devpi_secrets_keycloak_realm": "r"},
    ),
    Case(
        "keycloak-without-realm",
        ["devpi_secrets_keycloak_realm"],
        {
            "devpi_secrets_keycloak_url": "https://sso.example",
            "devpi_secrets_keycloak_auth_username": "u",
            "devpi_secrets_keycloak_auth_password": "p",
        },
    ),  # fmt: skip
    Case(
        "keycloak-without-auth",
        ["devpi_secrets_keycloak_url is set: give devpi_secrets_keycloak_auth_client_id"],
        {"devpi_secrets_keycloak_url": "https://sso.example", "devpi_secrets_keycloak_realm": "r"},
    ),
    Case(
        "keycloak-two-ways-in",
        ["not both"],
        {
            "devpi_secrets_keycloak_url": "https://sso.example",
            "devpi_secrets_keycloak_realm": "r",
            "devpi_secrets_keycloak_auth_client_id": "c",
            "devpi_secrets_keycloak_auth_client_secret": "s",
            "devpi_secrets_keycloak_auth_username": "u",
            "devpi_secrets_keycloak_auth_password": "p",
        },
    ),  # fmt: skip
    Case(
        "keycloak-half-a-service-account",
        ["devpi_secrets_keycloak_auth_client_secret"],
        {
            "devpi_secrets_keycloak_url": "https://sso.example",
            "devpi_secrets_keycloak_realm": "r",
            "devpi_secrets_keycloak_auth_client_id": "c",
        },
    ),  # fmt: skip
    Case(
        "password-empty",
        ["devpi_secrets_basic_auth_password", "12 to 72 bytes"],
        {"devpi_secrets_basic_auth_password": ""},
    ),
    Case(
        "password-73-bytes",
        ["devpi_secrets_basic_auth_password", "12 to 72 bytes"],
        {"devpi_secrets_basic_auth_password": "p" * 73},
    ),
    Case(
        "password-37-chars-74-bytes",
        ["devpi_secrets_basic_auth_password", "12 to 72 bytes"],
        {"devpi_secrets_basic_auth_password": "\u00e9" * 37},
    ),
    # A given password Ansible's masking would corrupt (it occurs in the user name or in the hash's `$2y$` prefix), or
    # too short to be a credential: the rule is 12 to 72 bytes, not inside the user name.
    Case("password-in-user-name", ["devpi_secrets_basic_auth_password"], {"devpi_secrets_basic_auth_password": "pypi"}),
    Case("password-y", ["devpi_secrets_basic_auth_password"], {"devpi_secrets_basic_auth_password": "y"}),
    Case("password-dollar", ["devpi_secrets_basic_auth_password"], {"devpi_secrets_basic_auth_password": "$"}),
    Case("password-user", ["devpi_secrets_basic_auth_password"], {"devpi_secrets_basic_auth_password": "user"}),
    Case(
        "password-11-bytes",
        ["devpi_secrets_basic_auth_password", "12 to 72 bytes"],
        {"devpi_secrets_basic_auth_password": "abcdefghijk"},
    ),
    Case(
        "password-is-the-long-user-name",
        ["devpi_secrets_basic_auth_password", "devpi_secrets_basic_auth_user"],
        {
            "devpi_secrets_basic_auth_user": "ci-uploader-for-pypi",
            "devpi_secrets_basic_auth_password": "uploader-for-pypi",
        },
    ),
    # The Keycloak admin password or service-account secret would travel in clear.
    Case(
        "keycloak-plain-http",
        ["devpi_secrets_keycloak_url", "devpi_secrets_keycloak_allow_http"],
        {
            "devpi_secrets_keycloak_url": "http://sso.example",
            "devpi_secrets_keycloak_realm": "r",
            "devpi_secrets_keycloak_auth_username": "u",
            "devpi_secrets_keycloak_auth_password": "p",
        },
    ),  # fmt: skip
    Case("adopt-not-a-list", ["devpi_secrets_adopt"], {"devpi_secrets_adopt": {"devpi-basic-auth-client": 1}}),
    Case("cost-3", ["devpi_secrets_basic_auth_cost", "4 to 17"], {"devpi_secrets_basic_auth_cost": 3}),
    Case("cost-18", ["devpi_secrets_basic_auth_cost", "4 to 17"], {"devpi_secrets_basic_auth_cost": 18}),
    Case("rotate-unknown", ["devpi_secrets_rotate", "devpi-nope"], {"devpi_secrets_rotate": ["devpi-nope"]}),
    Case(
        "rotate-devpi-tls",
        ["devpi_secrets_rotate", "devpi-tls holds no generated value"],
        {"devpi_secrets_rotate": ["devpi-tls"]},
    ),
    # A string is a comma-separated list, as for Ansible's `type: list` (what `-e devpi_secrets_rotate=a,b` gives).
    Case(
        "rotate-a-string-naming-an-unknown",
        ["devpi_secrets_rotate", "devpi-nope"],
        {"devpi_secrets_rotate": "devpi-secret,devpi-nope"},
    ),
    Case("rotate-a-number", ["devpi_secrets_rotate"], {"devpi_secrets_rotate": 5}),
    Case("namespace-uppercase", ["devpi_secrets_namespace", "DNS-1123"], {"devpi_secrets_namespace": "Devpi"}),
    Case("namespace-64-chars", ["devpi_secrets_namespace", "at most 63"], {"devpi_secrets_namespace": "d" * 64}),
    Case("api-unreachable", ["Cannot read namespace", "devpi_secrets_kubeconfig"], kubeconfig="unreachable"),
    Case("context-unknown", ["devpi_secrets_context='nope'", "nope"], {"devpi_secrets_context": "nope"}),
    Case(
        "namespace-missing-no-create",
        ["devpi_secrets_create_namespace is false"],
        {"devpi_secrets_namespace": "t-hard-absent-ns", "devpi_secrets_create_namespace": False},
    ),
    Case(
        "tls-secret-opaque", ["devpi-tls has type 'Opaque'", "devpi_secrets_replace_wrong_type"], namespace="opaque-tls"
    ),
    # Positive control (check mode, so nothing is written): exactly 72 bytes is accepted.
    Case("password-72-bytes-ok", [], {"devpi_secrets_basic_auth_password": "\u00e9" * 36}, ok=True),
]
BAD = [c for c in CASES if not c.ok]


def _files(kind: str, d: Path, base):
    """(cert_file, key_file) for a case: broken variants of the good pair in `base`."""
    ca = base.ca
    if kind == "cert-missing":
        return d / "no-such.crt", base.key_file
    if kind == "key-dir":
        (d / "key-dir").mkdir()
        return base.cert_file, d / "key-dir"
    if kind == "key-symlink":
        os.symlink(d / "nowhere.key", d / "dangling.key")
        return base.cert_file, d / "dangling.key"
    if kind == "key-as-cert":
        return base.key_file, base.key_file
    maker = {
        "mismatched": pki.mismatched_pair,
        "other-host": pki.other_host_leaf,
        "expired": pki.expired_leaf,
        "not-yet-valid": pki.not_yet_valid_leaf,
    }[kind]
    return pki.write_pair(d, maker(ca))


@pytest.fixture(scope="module")
def batch(kubeconfig, module_namespaces, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    base = make_inputs(root / "good")
    filled = module_namespaces("hard-bad")
    first = run_site(kubeconfig, filled, base, workdir=root / "first")
    assert first.rc == 0, first.output[-4000:]

    opaque = module_namespaces("hard-opaque")
    kubectl("create", "namespace", opaque, kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, opaque, base)
    server = kubectl(
        "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}", kubeconfig=kubeconfig
    ).stdout.strip()
    unreachable = root / "unreachable.kubeconfig"
    unreachable.write_text(Path(kubeconfig).read_text().replace(server, "https://127.0.0.1:1"))
    unreachable.chmod(0o600)

    jobs = []
    for case in CASES:
        d = root / case.id
        d.mkdir()
        inputs = base
        if case.files:
            cert, key = _files(case.files, d, base)
            inputs = replace(base, cert_file=cert, key_file=key)
        ns = opaque if case.namespace == "opaque-tls" else filled
        kc = {"unreachable": str(unreachable), "missing": str(root / "no-such.kubeconfig")}.get(
            case.kubeconfig, kubeconfig
        )
        variables = inputs.vars(kc, ns)
        variables.update(case.extra)
        for name in case.drop:
            variables.pop(name)
        args = ("--check",) if case.ok else ()
        jobs.append(lambda variables=variables, d=d, args=args: run_playbook("site.yml", variables, d, *args))

    rv_before = {ns: resource_versions(kubeconfig, ns) for ns in (filled, opaque)}
    writes_before, coded_before = api_writes(kubeconfig), writes_by_code(kubeconfig)
    runs = parallel(jobs, workers=3)
    writes = writes_between(writes_before, api_writes(kubeconfig))
    coded = delta(coded_before, writes_by_code(kubeconfig))
    rv_after = {ns: resource_versions(kubeconfig, ns) for ns in (filled, opaque)}
    print(
        f"\n[hardening] bad input: {len(BAD)} bad cases + {len(CASES) - len(BAD)} positive control, "
        f"{sum(r.rc != 0 for r in runs)} runs failed; writes during the batch: {writes or 'none'} "
        f"(by code: {coded or 'none'}); Secrets {len(rv_before[filled])}+{len(rv_before[opaque])}, "
        f"resourceVersions unchanged: {rv_before == rv_after}"
    )
    return {
        "runs": dict(zip([c.id for c in CASES], runs)),
        "writes": writes,
        "rv_before": rv_before,
        "rv_after": rv_after,
        "filled": filled,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_clearly_and_writes_nothing(batch, case):
    run = batch["runs"][case.id]
    assert batch["writes"] == {}, f"writes during the bad-input batch: {batch['writes']}"
    assert batch["rv_after"] == batch["rv_before"], "a Secret changed during the bad-input batch"
    assert len(batch["rv_before"][batch["filled"]]) == len(SECRET_NAMES)
    if case.ok:
        assert run.rc == 0, run.output[-4000:]
        return
    assert run.rc != 0, f"{case.id}: the run succeeded\n{run.output[-4000:]}"
    message = failure_text(run.output)
    for expected in case.expect:
        assert expected in message, f"{case.id}: {expected!r} not in the failure message:\n{message[-3000:]}"
    assert "unknown error" not in message, f"{case.id}: the message does not say what went wrong:\n{message[-2000:]}"


def test_terminating_namespace_is_refused(kubeconfig, namespace, tmp_path):
    """A namespace held in Terminating by a finalizer: the run fails naming devpi_secrets_namespace, writes nothing.

    The namespace controller keeps writing namespaces/status while the namespace is held, so the write count here
    leaves out subresources (writes_by_code) and the DELETEs it sends to empty the namespace.
    """
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    kubectl("create", "configmap", "hold", "-n", namespace, "--from-literal=a=b", kubeconfig=kubeconfig)
    kubectl(
        "patch",
        "configmap",
        "hold",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":["hardening.theedgeworks.ai/hold"]}}',
        kubeconfig=kubeconfig,
    )
    kubectl("delete", "namespace", namespace, "--wait=false", kubeconfig=kubeconfig)
    try:
        phase = kubectl("get", "ns", namespace, "-o", "jsonpath={.status.phase}", kubeconfig=kubeconfig).stdout
        assert phase == "Terminating"
        inputs = make_inputs(tmp_path)
        before = writes_by_code(kubeconfig)
        run = run_site(kubeconfig, namespace, inputs)
        # The namespace controller empties the namespace (DELETE) while it is held: count creates and updates only.
        writes = {k: v for k, v in delta(before, writes_by_code(kubeconfig)).items() if k[0] != "DELETE"}
        print(f"\n[hardening] terminating namespace: rc={run.rc}, writes={writes or 'none'}")
        assert run.rc != 0, run.output[-4000:]
        message = failure_text(run.output)
        assert "devpi_secrets_namespace" in message and "Terminating" in message, message[-3000:]
        assert writes == {}
    finally:
        drop_finalizers(kubeconfig, namespace, "configmap", "hold")
