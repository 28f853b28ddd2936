"""The plan step as a whole (plugin_utils/_plan.py's run_plan): validate -> read -> decide, each step only when the
ones before found no problem, and the one place that decides whether the write phase runs."""

from __future__ import annotations

import pytest
from test_plan_step import INPUTS, _as_read
from test_secret_plan import BASE, SUPPLIED, TABLE, empty_cluster

# Imported when the tests run (see test_plan_step.py).
_plan = None


@pytest.fixture(autouse=True)
def _plan_module():
    global _plan
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    _plan = module


class Reads:
    """Stand-ins for the cluster, copy and Keycloak reads, counting their calls."""

    def __init__(self, cluster=None, keycloak=None):
        self.cluster = cluster or empty_cluster(True)
        self.keycloak = keycloak or {"error": "", "error_in": "", "client": None, "secret": None, "token": ""}
        self.calls = []

    def read_cluster(self, **options):
        self.calls.append(("cluster", options["namespace"]))
        return self.cluster

    def read_copy(self, **options):
        self.calls.append(("copy", options["file"]))
        return {"enabled": False, "exists": False, "values": {}, "error": ""}

    def read_keycloak(self, url, realm, client_id, auth, token=""):
        self.calls.append(("keycloak", client_id))
        return self.keycloak


def checked(tmp_path, problems=(), **inputs):
    (tmp_path / "tls.crt").write_text(SUPPLIED["tls_cert"])
    (tmp_path / "tls.key").write_text(SUPPLIED["tls_key"])
    public = dict(
        INPUTS,
        tls_cert_file=str(tmp_path / "tls.crt"),
        tls_key_file=str(tmp_path / "tls.key"),
        tls_host="pypi.theedgeworks.ai",
        oauth2_client_id=SUPPLIED["oauth2_client_id"],
        backup_file="",
        backup_age_keyfile="",
        restart_consumers=False,
        audit=False,
    )
    public.update(inputs)
    return {
        "problems": list(problems),
        "warnings": [],
        "inputs": public,
        "secrets": {"oauth2_client_secret": SUPPLIED["oauth2_client_secret"]},
        "rotate": [],
        "client_secret_given": True,
        "keycloak": bool(public.get("keycloak_url")),
        "tls": {},
    }


def run(reads, checks, **kw):
    return _plan.run_plan(
        TABLE,
        checks,
        BASE,
        read_cluster=reads.read_cluster,
        read_copy=reads.read_copy,
        keycloak_reader=reads.read_keycloak,
        **kw,
    )


def test_a_bad_input_stops_before_any_read(tmp_path):
    reads = Reads()
    result = run(reads, checked(tmp_path, problems=["devpi_secrets_namespace must be a DNS label."]))
    assert result["problems"] == ["devpi_secrets_namespace must be a DNS label."]
    assert reads.calls == [] and result["write"] is False and result["changes"] is False


def test_a_tls_file_gone_since_the_check_is_a_problem_naming_its_variable(tmp_path):
    reads = Reads()
    checks = checked(tmp_path)
    (tmp_path / "tls.key").unlink()
    result = run(reads, checks)
    assert len(result["problems"]) == 1 and result["problems"][0].startswith("Cannot read devpi_secrets_tls_key_file")
    assert reads.calls == [] and result["write"] is False


def test_first_run_writes_and_its_re_run_skips_the_write_phase(tmp_path):
    reads = Reads()
    first = run(reads, checked(tmp_path))
    assert first["problems"] == [] and first["write"] is True and first["namespace_exists"] is True
    assert reads.calls == [("cluster", "devpi"), ("copy", "")]
    again = run(Reads(_as_read(first)), checked(tmp_path))
    assert again["problems"] == [] and again["changes"] is False and again["write"] is False
    assert [item["action"] for item in again["outcome"]["secrets"]] == ["kept"] * 5
    assert again["outcome"]["errors"] == [] and again["outcome"]["raced"] == []


def test_an_audit_never_runs_the_write_phase(tmp_path):
    result = run(Reads(), checked(tmp_path, audit=True))
    assert result["problems"] == [] and result["write"] is False and result["writes"] == []
    assert result["audit"]["report"]["ok"] is False


def test_the_copy_alone_runs_the_write_phase(tmp_path):
    first = run(Reads(), checked(tmp_path))
    # A Flux-ready form that lacks its files (its folder was just given), nothing else to write
    checks = checked(tmp_path, backup_file=str(tmp_path / "copy.sops.yaml"), backup_flux_dir=str(tmp_path / "flux"))
    again = run(Reads(_as_read(first)), checks)
    assert again["changes"] is False and again["copy_due"] is True and again["write"] is True


def test_keycloak_is_read_once_on_the_first_pass_and_its_problem_stops_the_cluster_read(tmp_path):
    kc = {"keycloak_url": "https://sso.example", "keycloak_realm": "theedgeworks"}
    reads = Reads()  # the client is missing in Keycloak: a problem to fix there
    result = run(reads, checked(tmp_path, **kc))
    assert reads.calls == [("keycloak", "theedgeworks")]
    assert result["problems"] and result["write"] is False
    # The second pass reads neither Keycloak nor rotates again; it takes the first pass's Keycloak plan and adds to its
    # outcome.
    first = run(Reads(), checked(tmp_path))
    reads = Reads(_as_read(first))
    checks = checked(tmp_path, **kc)
    checks["rotate"] = ["devpi-secret"]
    plan_kc = {"problems": [], "changes": False, "redirect_uris_added": [], "web_origins_added": []}
    second = run(
        reads,
        checks,
        pass_number=2,
        earlier={"keycloak": plan_kc, "keycloak_read": {"secret": "s"}, "outcome": first["outcome"]},
    )
    assert reads.calls == [("cluster", "devpi"), ("copy", "")]
    assert second["keycloak"] == plan_kc and second["changes"] is False and second["write"] is False
    assert [item["action"] for item in second["outcome"]["secrets"]] == ["created"] * 5  # the first pass's outcome
