"""The Keycloak plan: merge, never drop; problems say what to fix in Keycloak; no value in anything returned."""

from __future__ import annotations

import json

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._keycloak_client import keycloak_plan

OTHER = ["https://other.theedgeworks.ai/oauth2/callback"]
CLIENT = {"clientId": "theedgeworks", "publicClient": False, "standardFlowEnabled": True, "redirectUris": OTHER,
          "webOrigins": ["https://other.theedgeworks.ai"]}  # fmt: skip
SECRET = "kc-secret-value"


def plan(client=None, secret=None, given=None, failed=None, failed_in="client"):
    read = {"error": "", "error_in": "", "client": CLIENT if client is None else client,
            "secret": SECRET if secret is None else secret}  # fmt: skip
    if failed is not None:
        read.update(error=failed, error_in=failed_in)
    return keycloak_plan(read, "pypi.theedgeworks.ai", "theedgeworks", "theedgeworks", "https://sso",
                         given, ["auth-secret-value"])  # fmt: skip


def test_adds_only_what_is_missing_and_keeps_the_rest():
    p = plan()
    assert p["problems"] == []
    assert p["redirect_uris"] == OTHER + ["https://pypi.theedgeworks.ai/oauth2/callback"]
    assert p["web_origins"] == ["https://other.theedgeworks.ai", "https://pypi.theedgeworks.ai"]
    done = dict(CLIENT, redirectUris=p["redirect_uris"], webOrigins=p["web_origins"])
    assert plan(done)["redirect_uris_added"] == [] and plan(done)["web_origins_added"] == []
    assert p["changes"] is True and plan(done)["changes"] is False
    assert "kc-secret-value" not in json.dumps(p)


def test_problems_to_fix_in_keycloak():
    assert "does not exist" in plan({})["problems"][0]
    assert "is public" in plan(dict(CLIENT, publicClient=True))["problems"][0]
    assert "standard flow" in plan(dict(CLIENT, standardFlowEnabled=False))["problems"][0]
    mismatch = plan(given="another-secret")["problems"][0]
    assert "differs" in mismatch and "another-secret" not in mismatch and "kc-secret-value" not in mismatch
    assert plan(given="kc-secret-value")["problems"] == []


def test_errors_are_scrubbed():
    (problem,) = plan(failed="401 for client_secret=auth-secret-value", failed_in="login")["problems"]
    assert "auth-secret-value" not in problem and "<redacted>" in problem
    (problem,) = plan(failed="HTTP 403 Forbidden", failed_in="secret")["problems"]
    assert problem.startswith("Cannot read the secret of Keycloak client 'theedgeworks'")


def test_an_answer_without_a_secret_or_with_an_empty_one_is_a_problem_naming_the_client():
    for answer in ("", "  ", None):
        (problem,) = keycloak_plan({"client": CLIENT, "secret": answer}, "pypi.theedgeworks.ai", "theedgeworks",
                                   "theedgeworks", "https://sso")["problems"]  # fmt: skip
        assert "no secret" in problem and "'theedgeworks'" in problem


def test_a_given_secret_not_given_is_not_compared():
    p = keycloak_plan({"client": CLIENT, "secret": SECRET}, "pypi.theedgeworks.ai", "theedgeworks", "theedgeworks",
                      "https://sso", "", [], secret_given=False)  # fmt: skip
    assert p["problems"] == []
