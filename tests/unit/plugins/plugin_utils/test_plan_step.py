"""The decide step as the role runs it: draws, the basic-auth line and the plan, in one call (plugin_utils/_plan.py)."""

from __future__ import annotations

import base64

import pytest
from test_secret_plan import BASE, CLIENT, SUPPLIED, TABLE, empty_cluster

from ansible_collections.theedgeworks.devpi.plugins.module_utils import htpasswd
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import stored_values

# Imported when the tests run, not when they are collected: importing the module bodies together with the
# controller-side plugin machinery at collection time changes how ansible-core routes the warnings of the module tests
# that run earlier (tests/unit/plugins/modules).
_plan = None


@pytest.fixture(autouse=True)
def _plan_module():
    global _plan
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    _plan = module


INPUTS = {
    "basic_auth_user": "pypi-user",
    "basic_auth_cost": 4,
    "namespace": "devpi",
    "labels": {},
    "adopt": [],
    "create_namespace": True,
    "kubeconfig": "/k/config",
    "context": "",
}


def _as_read(plan_result, exists=True):
    """The cluster as the read would find it after the plan's writes (their age annotations included)."""
    cluster = empty_cluster(exists)
    written = {w["metadata"]["name"]: w for w in plan_result.get("writes") or [] if w.get("kind") == "Secret"}
    for entry in plan_result["secrets"]:
        data = {k: v for k, v in entry["data"].items() if v is not None}
        annotations = (written.get(entry["name"]) or {}).get("metadata", {}).get("annotations")
        cluster["secrets"][entry["name"]] = {
            **({"annotations": annotations} if annotations else {}),
            "type": entry["type"],
            "uid": "u",
            "resource_version": "1",
            "labels": entry["labels"],
            "data": data,
            "text": {k: base64.b64decode(v).decode() for k, v in data.items()},
        }
    return cluster


def test_a_first_plan_then_its_re_run_changes_nothing():
    first = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE)
    assert first["problems"] == [] and [s["action"] for s in first["secrets"]] == ["created"] * 5
    again = _plan.plan(TABLE, _as_read(first), SUPPLIED, INPUTS, [], BASE)
    assert again["problems"] == [] and again["changes"] is False
    assert [s["action"] for s in again["secrets"]] == ["kept"] * 5
    # the generated password verifies against the line made for it, and is kept on the re-run without a draw
    cluster = _as_read(first)
    password = cluster["secrets"][CLIENT]["text"]["password"]
    line = cluster["secrets"]["devpi-basic-auth"]["text"]["auth"].strip()
    assert htpasswd.verify(password, line.split(":", 1)[1])
    assert stored_values(TABLE, cluster, "pypi-user")[CLIENT]["password"]["keep"] is True


def test_a_rotation_of_devpi_basic_auth_draws_a_new_password_and_hash():
    first = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE)
    rotated = _plan.plan(TABLE, _as_read(first), SUPPLIED, INPUTS, ["devpi-basic-auth"], BASE)
    actions = {s["name"]: s["action"] for s in rotated["secrets"]}
    assert (
        actions["devpi-basic-auth"] == "rotated" and actions[CLIENT] == "rotated" and actions["devpi-secret"] == "kept"
    )


def test_a_body_that_raises_is_a_value_free_problem(monkeypatch):
    secret = "the-given-password-xyz"

    def boom(password, salt):  # a library that quotes its input in an error
        raise ValueError("cannot hash " + password.decode())

    monkeypatch.setattr(htpasswd.bcrypt, "hashpw", boom)
    supplied = dict(SUPPLIED, basic_auth_password=secret)
    result = _plan.plan(TABLE, empty_cluster(), supplied, INPUTS, [], BASE)
    (problem,) = result["problems"]
    assert "htpasswd_bcrypt" in problem and "ValueError" in problem and secret not in problem
    assert result["changes"] is False


@pytest.mark.parametrize("given", [True, False])
def test_a_given_password_is_hashed_and_no_client_secret_is_made(given):
    supplied = dict(SUPPLIED, basic_auth_password="a password given by a person") if given else SUPPLIED
    result = _plan.plan(TABLE, empty_cluster(), supplied, INPUTS, [], BASE)
    names = [s["name"] for s in result["secrets"]]
    assert (CLIENT in names) is not given
    line = base64.b64decode(next(s for s in result["secrets"] if s["name"] == "devpi-basic-auth")["data"]["auth"])
    if given:
        assert htpasswd.verify("a password given by a person", line.decode().strip().split(":", 1)[1])


@pytest.mark.parametrize(
    ("change", "inputs", "expected"),
    [
        (
            {"error": "Connection refused", "error_in": "namespace"},
            {},
            "Cannot read namespace 'devpi' from the Kubernetes API (devpi_secrets_kubeconfig='/k/config', "
            "devpi_secrets_context='(current context)'): Connection refused",
        ),
        (
            {"error": "Forbidden", "error_in": "secrets"},
            {},
            "Cannot read the Secrets of namespace 'devpi': Forbidden",
        ),
        ({"namespace": {"exists": True, "phase": "Terminating", "labels": {}}}, {}, "phase Terminating"),
        ({"namespace": {"exists": False, "phase": "", "labels": {}}}, {"create_namespace": False}, "is false."),
    ],
)
def test_a_cluster_that_cannot_be_planned_from_is_one_problem_and_nothing_is_drawn(
    change, inputs, expected, monkeypatch
):
    drawn = []
    monkeypatch.setattr(_plan, "draw", lambda *a, **k: drawn.append(a))
    cluster = dict(empty_cluster(), **change)
    result = _plan.plan(TABLE, cluster, SUPPLIED, dict(INPUTS, **inputs), [], BASE)
    assert len(result["problems"]) == 1 and expected in result["problems"][0]
    assert result["changes"] is False and result["secrets"] == [] and drawn == []


def test_a_missing_namespace_the_role_may_create_is_no_problem():
    result = _plan.plan(TABLE, empty_cluster(False), SUPPLIED, INPUTS, [], BASE)
    assert result["problems"] == [] and result["changes"] is True
