"""The role's filters: planning writes, summaries without values, and value-free API error messages."""

from __future__ import annotations

import base64
import json

from ansible_collections.theedgeworks.devpi.plugins.filter.k8s_error import (
    k8s_conflict,
    k8s_error,
    k8s_failures,
    k8s_raced,
)
from ansible_collections.theedgeworks.devpi.plugins.filter.secret_plan import (
    b64decode_values,
    htpasswd_content,
    mark_raced,
    secret_plan,
    secret_summary,
)

LABELS = {"app.kubernetes.io/part-of": "devpi"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name, data, type_="Opaque", labels=None, rv="7"):
    return {
        "metadata": {"name": name, "labels": dict(LABELS if labels is None else labels), "resourceVersion": rv},
        "type": type_,
        "data": data,
    }


def wanted(data, type_="Opaque", hint=None):
    out = {"type": type_, "data": data, "labels": LABELS}
    if hint:
        out["hint"] = hint
    return out


def test_plan_actions_cover_every_case():
    current = {
        "same": secret("same", {"k": b64("v")}),
        "data": secret("data", {"k": b64("old")}),
        "labels": secret("labels", {"k": b64("v")}, labels={}),
        "type": secret("type", {"k": b64("v")}, type_="Opaque"),
        "drop": secret("drop", {"k": b64("v"), "password": b64("p")}),
        "extra": secret("extra", {"k": b64("v"), "theirs": b64("x")}),
    }
    want = {
        "missing": wanted({"k": b64("v")}),
        "same": wanted({"k": b64("v")}),
        "data": wanted({"k": b64("new")}, hint="rotated"),
        "labels": wanted({"k": b64("v")}),
        "type": wanted({"k": b64("v")}, type_="kubernetes.io/tls"),
        "drop": wanted({"k": b64("v"), "password": None}),
        "extra": wanted({"k": b64("v")}),
    }
    plan = {p["name"]: p for p in secret_plan(want, current)}
    assert {n: p["action"] for n, p in plan.items()} == {
        "missing": "created",
        "same": "kept",
        "data": "rotated",
        "labels": "updated",
        "type": "replaced",
        "drop": "updated",
        "extra": "kept",  # keys we do not manage are left alone
    }
    assert plan["data"]["resource_version"] == "7"
    assert plan["missing"]["resource_version"] == ""
    assert plan["type"]["current_type"] == "Opaque"


def test_absent_key_to_remove_is_not_a_change():
    current = {"s": secret("s", {"k": b64("v")})}
    assert secret_plan({"s": wanted({"k": b64("v"), "password": None})}, current)[0]["action"] == "kept"


def test_summary_never_contains_values():
    current = {"s": secret("s", {"k": b64("old-secret-value")})}
    plan = secret_plan({"s": wanted({"k": b64("new-secret-value")})}, current)
    for fingerprints in (False, True):
        text = json.dumps(secret_summary(plan, fingerprints))
        for value in ("old-secret-value", "new-secret-value", b64("old-secret-value"), b64("new-secret-value")):
            assert value not in text
    summary = secret_summary(plan, True)[0]
    assert summary["keys"] == ["k"]
    assert summary["changed_keys"]["k"]["before"].startswith("sha256:")
    assert summary["changed_keys"]["k"]["before"] != summary["changed_keys"]["k"]["after"]


def test_mark_raced_turns_created_into_kept():
    summary = [{"name": "a", "action": "created"}, {"name": "b", "action": "created"}]
    assert [s["action"] for s in mark_raced(summary, ["b"])] == ["created", "kept"]


def test_b64decode_values_tolerates_garbage():
    assert b64decode_values({"a": b64("x"), "b": "!!notbase64", "c": base64.b64encode(b"\xff").decode()}) == {
        "a": "x",
        "b": "",
        "c": "\ufffd",
    }
    assert b64decode_values(None) == {}


def test_htpasswd_content_keeps_current_lines_and_adds_new_ones():
    current = "alice:$2y$05$keptkeptkeptkeptkeptkuKEPT\nbob:$apr1$old\n"
    result = {
        "users": [
            {"name": "alice", "action": "kept"},
            {"name": "carol", "action": "created"},
            {"name": "bob", "action": "removed"},
        ],
        "order": ["alice", "carol"],
        "lines": {"carol": "carol:$2y$05$new"},
    }
    assert htpasswd_content(result, current) == "alice:$2y$05$keptkeptkeptkeptkeptkuKEPT\ncarol:$2y$05$new\n"


def test_htpasswd_content_keeps_a_file_whose_users_are_all_kept_byte_for_byte():
    kept_only = {"users": [{"name": "alice", "action": "kept"}], "order": ["alice"], "lines": {}}
    # `htpasswd -Bbn` prints the line and a blank line: not worth a write.
    assert htpasswd_content(kept_only, "alice:$2y$05$x\n\n") == "alice:$2y$05$x\n\n"
    created = {"users": [{"name": "alice", "action": "created"}], "order": ["alice"], "lines": {"alice": "alice:h"}}
    assert htpasswd_content(created, "") == "alice:h\n"


def _status(code, reason, message):
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    # kubernetes.core puts the response body's bytes repr into its message.
    return "Failed to patch object: %r" % json.dumps(body).encode()


def test_k8s_error_keeps_only_the_status():
    result = {"failed": True, "msg": _status(403, "Forbidden", 'secrets "devpi-tls" is forbidden: User "u" cannot')}
    assert k8s_error(result) == 'HTTP 403 Forbidden: secrets "devpi-tls" is forbidden: User "u" cannot'
    assert not k8s_conflict(result)
    assert k8s_conflict({"failed": True, "msg": _status(409, "Conflict", "the object has been modified")})


def test_k8s_error_shortens_other_messages():
    assert k8s_error({"msg": "x " * 400}).endswith("...")
    assert len(k8s_error({"msg": "x " * 400})) == 300
    assert k8s_error(None) == "unknown error"


def test_raced_and_failures_split_the_results():
    raced_patch = {"failed": True, "item": {"name": "a"}, "msg": "metadata.uid: Invalid value: field is immutable"}
    raced_post = {"changed": True, "method": "create", "result": {}, "item": {"name": "b"}}
    created = {"changed": True, "method": "create", "result": {"kind": "Secret"}, "item": {"name": "c"}}
    denied = {"failed": True, "item": {"name": "d"}, "msg": _status(403, "Forbidden", "no")}
    skipped = {"skipped": True, "item": {"name": "e"}}
    results = [raced_patch, raced_post, created, denied, skipped]
    assert [r["item"]["name"] for r in k8s_raced(results)] == ["a", "b"]
    failures = k8s_failures(results, "create")
    assert failures == [{"name": "d", "verb": "create", "error": "HTTP 403 Forbidden: no", "conflict": False}]
    # For updates a uid error is a failure like any other.
    assert [f["name"] for f in k8s_failures([raced_patch], "update")] == ["a"]


def test_k8s_error_finds_the_status_in_a_k8s_info_exception_text():
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": 'secrets is forbidden: User "u" cannot list resource "secrets" in API group "" '
            'in the namespace "d"',
            "reason": "Forbidden",
            "code": 403,
        }
    ).encode()
    msg = (
        "Exception '403\nReason: Forbidden\nHTTP response headers: HTTPHeaderDict({'X': 'y'})\nHTTP response body: %r"
        % body
    )
    assert k8s_error({"msg": msg}) == (
        'HTTP 403 Forbidden: secrets is forbidden: User "u" cannot list resource "secrets" in API group "" '
        'in the namespace "d"'
    )


def test_k8s_error_without_a_message_says_the_api_did_not_answer():
    assert "no answer from the Kubernetes API" in k8s_error({"failed": True})
