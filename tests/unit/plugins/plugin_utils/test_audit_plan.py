"""Audit without change: the findings the plan step makes in audit mode (plugin_utils/_audit.py via _plan.py), the
report files it hands the role, and that an audit's plan holds nothing to write."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from test_plan_step import INPUTS, _as_read
from test_secret_plan import BASE, SUPPLIED, TABLE, empty_cluster

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages, _audit

NOW = datetime(2026, 12, 3, 8, 0, 0, tzinfo=timezone.utc)
AUDIT = dict(INPUTS, audit=True, audit_warning_days=14, tls_expiry_warning_days=30, audit_report="/t/devpi.json")

_plan = None


@pytest.fixture(autouse=True)
def _plan_module():
    global _plan
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    _plan = module


def audit(cluster, rotate=(), tls=None, keycloak=None, **inputs):
    return _plan.plan(TABLE, cluster, SUPPLIED, dict(AUDIT, **inputs), list(rotate), BASE, clock=lambda: NOW,
                      tls=tls, keycloak=keycloak)  # fmt: skip


@pytest.fixture(scope="module")
def converged():
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    return _as_read(module.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, clock=lambda: NOW))


def found(result):
    return {(f["entry"], f["reason"]) for f in result["audit"]["report"]["findings"]}


def assert_nothing_to_write(result):
    assert result["changes"] is False and result["writes"] == result["writes_after"] == result["deletes"] == []
    assert result["restarts"] == [] and result["problems"] == []


def test_a_converged_cluster_has_no_finding_and_the_files_are_named_by_the_report(converged):
    result = audit(converged)
    assert found(result) == set() and result["audit"]["report"]["ok"] is True and result["audit"]["summary"] == ""
    assert [f["path"] for f in result["audit"]["files"]] == ["/t/devpi.json", "/t/devpi.prom"]
    assert json.loads(result["audit"]["files"][0]["content"]) == result["audit"]["report"]
    assert_nothing_to_write(result)


def test_a_missing_namespace_is_a_finding_even_when_the_role_may_not_create_it():
    result = audit(empty_cluster(False), create_namespace=False)
    assert ("devpi", "namespace_missing") in found(result)
    assert {name for name, reason in found(result) if reason == "secret_missing"} == {r["name"] for r in TABLE}
    assert_nothing_to_write(result)
    assert "namespace_missing" in result["audit"]["summary"] and "Nothing was written" in result["audit"]["summary"]


def test_a_rotation_asked_for_is_a_finding_and_nothing_is_drawn_into_a_write(converged):
    result = audit(converged, rotate=["devpi-basic-auth"])
    assert found(result) == {("devpi-basic-auth", "rotation_requested")}  # once, for both Secrets it rotates
    assert_nothing_to_write(result)


def _stamped(cluster, days):
    out = json.loads(json.dumps(cluster))
    at = _ages.timestamp(NOW - timedelta(days=days, minutes=5))
    out["secrets"]["devpi-secret"]["annotations"] = {_ages.ANNOTATION: _ages.dump({"secret": {"at": at, "by": "x"}})}
    return out


@pytest.mark.parametrize(
    ("days", "expected"),
    [(76, set()), (77, {"max_age_near"}), (90, {"max_age_near"}), (91, {"max_age_exceeded"})],
)
def test_max_age_near_is_within_the_warning_days_and_exceeded_past_the_maximum(converged, days, expected):
    result = audit(_stamped(converged, days), max_age_days={"devpi-secret": 90})
    assert found(result) == {("devpi-secret/secret", reason) for reason in expected}
    for finding in result["audit"]["report"]["findings"]:
        assert finding["age_days"] == days and finding["max_age_days"] == 90
    assert_nothing_to_write(result)


@pytest.mark.parametrize(("days_left", "expected"), [(31, False), (29, True)])
def test_a_certificate_within_its_warning_window_is_a_finding(converged, days_left, expected):
    tls = {"not_after": _ages.timestamp(NOW + timedelta(days=days_left, hours=1))}
    result = audit(converged, tls=tls)
    assert found(result) == ({("devpi-tls/tls.crt", "certificate_expiring")} if expected else set())


def test_the_keycloak_client_entries_it_lacks_are_findings(converged):
    keycloak = {"redirect_uris_added": ["https://h/oauth2/callback"], "web_origins_added": ["https://h"]}
    result = audit(converged, keycloak=keycloak, keycloak_url="https://kc", oauth2_client_id="theedgeworks")
    assert found(result) == {("theedgeworks", "keycloak_redirect_uri_missing"),
                             ("theedgeworks", "keycloak_web_origin_missing")}  # fmt: skip


def test_no_value_of_the_plan_reaches_the_report_or_the_textfile(converged):
    broken = json.loads(json.dumps(converged))
    del broken["secrets"]["devpi-basic-auth-client"]
    result = audit(broken, rotate=["devpi-secret"])
    values = [t for s in converged["secrets"].values() for k, t in s["text"].items() if k not in ("username",)]
    values += [v for s in result["secrets"] for v in s["data"].values() if v]
    texts = [f["content"] for f in result["audit"]["files"]] + [result["audit"]["summary"]]
    assert [v for v in values if len(v) >= 8 and any(v in t for t in texts)] == []


def test_the_textfile_has_one_help_and_type_per_family_and_escapes_label_values():
    finding = {"kind": "Secret", "entry": "a/b", "reason": "value_invalid"}
    report = {"namespace": 'ns"\\\n', "ok": False, "checked_at": "2026-12-03T08:00:00Z", "ages": [],
              "certificate": {}, "findings": [finding]}  # fmt: skip
    text = _audit.prometheus(report)
    assert 'namespace="ns\\"\\\\\\n"' in text
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps)) == 5
    assert all(line.startswith("#") or line.split("{")[0] in helps for line in text.splitlines())
    assert _audit.prometheus_path("/x/devpi") == "/x/devpi.prom"
