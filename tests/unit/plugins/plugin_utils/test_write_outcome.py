"""Reading kubernetes.core.k8s results back into one value-free outcome per write."""

from __future__ import annotations

import json

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import CREATE_GUARD_UID
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import (
    deferred_writes,
    describe_error,
    failed,
    failure_text,
    outcomes,
    per_definition,
    secret_report,
)


def _status(code, reason, message):
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
    body["code"] = code
    # kubernetes.core puts the response body's bytes repr into its message.
    return "Failed to patch object: %r" % json.dumps(body).encode()


def write(name, create=True, kind="Secret"):
    meta = {"name": name}
    meta.update({"uid": CREATE_GUARD_UID} if create else {"resourceVersion": "3"})
    return {"kind": kind, "metadata": meta}


def test_describe_error_keeps_only_the_status_and_flags_conflicts():
    text, conflict = describe_error({"msg": _status(403, "Forbidden", 'secrets "x" is forbidden')})
    assert text == 'HTTP 403 Forbidden: secrets "x" is forbidden' and not conflict
    assert describe_error({"msg": _status(409, "Conflict", "modified")})[1]
    assert describe_error({"msg": "x " * 400})[0].endswith("...")
    assert "no answer from the Kubernetes API" in describe_error({})[0]


def test_single_and_many_definitions_and_whole_task_failure():
    single = {"changed": True, "method": "create", "result": {"kind": "Secret"}}
    assert per_definition(single, 1) == [single]
    many = {"changed": True, "result": {"results": [single, single]}}
    assert per_definition(many, 2) == [single, single]
    failed = {"failed": True, "msg": "no kubeconfig"}
    assert per_definition(failed, 2) == [{"error": {"msg": "no kubeconfig"}}] * 2
    assert per_definition({"skipped": True}, 3) == []


def test_outcomes_tell_races_from_failures():
    writes = [write("a"), write("b"), write("c"), write("d"), write("e", create=False)]
    results = [
        {"error": {"msg": "metadata.uid: Invalid value: field is immutable"}},  # create found the Secret: patch refused
        {"changed": True, "method": "create", "result": {}},  # 409 on create, swallowed by kubernetes.core
        {"changed": True, "method": "create", "result": {"kind": "Secret"}},
        {"error": {"msg": _status(403, "Forbidden", "no")}},
        {"error": {"msg": "metadata.uid: Invalid value: field is immutable"}},  # an update: a plain failure
    ]
    got = outcomes(writes, {"changed": True, "result": {"results": results}})
    assert [o["status"] for o in got] == ["raced", "raced", "written", "failed", "failed"]
    assert got[3]["error"] == "HTTP 403 Forbidden: no"


def test_a_lost_race_is_read_again_and_the_second_pass_reports_it():
    plan = {
        "writes": [write("a"), write("b", create=False)],
        "secrets": [{"name": "a", "action": "created"}, {"name": "b", "action": "rotated"}],
        "report": [{"name": "a", "action": "created"}, {"name": "b", "action": "rotated"}],
    }
    registered = {
        "result": {
            "results": [
                {"changed": True, "method": "create", "result": {}},
                {"error": {"msg": _status(409, "Conflict", "the object has been modified")}},
            ]
        }
    }
    first = secret_report(plan, registered)
    assert first["raced"] == ["a"] and "a appeared between this run's read and its create" in first["warnings"][-1]
    assert first["errors"] == [
        {
            "kind": "Secret",
            "name": "b",
            "status": "failed",
            "error": "HTTP 409 Conflict: the object has been modified",
            "conflict": True,
            "verb": "update",
        }
    ]
    # The second pass found a with another client secret and updated it; b is not rotated twice (kept).
    second_plan = {
        "writes": [write("a", create=False)],
        "secrets": [{"name": "a", "action": "updated"}, {"name": "b", "action": "kept"}],
        "report": [{"name": "a", "action": "updated"}, {"name": "b", "action": "kept"}],
    }
    final = secret_report(
        second_plan, {"changed": True, "method": "update", "result": {"kind": "Secret"}}, previous=first
    )
    assert final["secrets"] == [
        {"name": "a", "action": "updated", "note": "created by a concurrent run, then brought to the inputs"},
        {"name": "b", "action": "rotated", "error": "HTTP 409 Conflict: the object has been modified"},
    ]
    assert [e["name"] for e in final["errors"]] == ["b"] and final["raced"] == []
    created_again = dict(second_plan, writes=[write("a")])  # a was deleted and another run made it again
    again = secret_report(created_again, {"changed": True, "method": "create", "result": {}}, previous=first)
    assert [e["error"] for e in again["errors"]][-1].startswith("lost a create race twice")


def test_a_refused_delete_stops_every_write():
    plan = {
        "writes": [write("devpi-tls"), write("other", create=False)],
        "deletes": [{"name": "devpi-tls", "uid": "u", "resource_version": "1"}],
        "secrets": [{"name": "devpi-tls", "action": "replaced"}, {"name": "other", "action": "updated"}],
        "report": [{"name": "devpi-tls", "action": "replaced"}, {"name": "other", "action": "updated"}],
    }
    failed_delete = {"failed": True, "ansible_loop_var": "_devpi_secrets_delete", "_devpi_secrets_delete": {
        "name": "devpi-tls"}, "msg": _status(409, "Conflict", "Precondition failed: UID in precondition: u, UID in "
                                             "object meta: v")}  # fmt: skip
    deleted = {"failed": True, "results": [failed_delete]}
    report = secret_report(plan, {}, deleted=deleted)
    assert [(e["name"], e["verb"]) for e in report["errors"]] == [("devpi-tls", "delete"), ("other", "update")]
    assert "not deleted" in report["errors"][0]["error"] and "delete was refused" in report["errors"][1]["error"]
    # As the role registers it: continue_on_error and failed_when: false, the refusal in the item's `error`.
    refused = {"changed": False, "failed": False, "failed_when_result": False, "result": {},
               "ansible_loop_var": "_devpi_secrets_delete", "_devpi_secrets_delete": {"name": "devpi-tls"},
               "error": {"msg": failed_delete["msg"], "status": 409, "reason": "Conflict"}}  # fmt: skip
    assert secret_report(plan, {}, deleted={"results": [refused]})["errors"] == report["errors"]


# Results registered with failed_when: false, as measured (ansible-core 2.17 / 2.19 / 2.21; invocation left out).
SUPPRESSED = {"changed": False, "failed": False, "failed_when_result": False}
MEASURED_FAILURES = [
    # 2.19+: kubernetes.core failed from an exception; its text is gone.
    ("kubernetes.core.k8s", dict(SUPPRESSED, failed_when_suppressed_exception="(traceback unavailable)")),
    # 2.17: the module crashed.
    ("kubernetes.core.k8s", dict(SUPPRESSED, exception="Traceback ...", msg="MODULE FAILURE", rc=1)),
    # continue_on_error, one definition refused (the delete loop's items).
    ("kubernetes.core.k8s", dict(SUPPRESSED, result={}, error={"msg": _status(422, "Invalid", "refused: tls.key=x")})),
    # 2.17: fail_json(msg) only; 2.19+ add the suppressed exception.
    ("community.general.keycloak_client", dict(SUPPRESSED, msg="Could not update client 1 in realm r: HTTP 400")),
    ("theedgeworks.devpi.htpasswd_bcrypt", dict(SUPPRESSED, msg="htpasswd_bcrypt failed: ValueError in x.py:3")),
    ("theedgeworks.devpi.random_b64", {"failed": True, "msg": "registered with ignore_errors"}),
    ("theedgeworks.devpi.random_b64", dict(SUPPRESSED, msg="current is not valid base64", valid=False)),
]  # fmt: skip
MEASURED_SUCCESSES = [
    ("kubernetes.core.k8s", dict(SUPPRESSED, result={"results": [{"error": {"msg": "one write refused"}}]})),
    ("kubernetes.core.k8s", dict(SUPPRESSED, method="delete", result={})),
    ("community.general.keycloak_client", dict(SUPPRESSED, existing={}, end_state={}, msg="")),
    ("theedgeworks.devpi.htpasswd_bcrypt", dict(SUPPRESSED, users=[], order=[], lines={})),
    ("theedgeworks.devpi.random_b64", dict(SUPPRESSED, value="v", generated=True)),
    ("theedgeworks.devpi.random_b64", dict(SUPPRESSED, valid=True, generated=False, repaired=False)),  # kept
    ("theedgeworks.devpi.random_b64", {"skipped": True, "changed": False}),
]


def test_a_failure_is_recognised_also_under_failed_when_false():
    for module, result in MEASURED_FAILURES:
        assert failed(result, module), (module, result)
        assert failed({"results": [MEASURED_SUCCESSES[-1][1], result], "msg": "All items completed"}, module)
        text = failure_text(result, module, ["tls.key=x"])
        assert text and "tls.key=x" not in text and len(text) <= 300, text
    for module, result in MEASURED_SUCCESSES:
        assert not failed(result, module) and failure_text(result, module) == "", (module, result)
        assert not failed({"results": [result]}, module)


def test_a_deferred_write_goes_only_after_the_secret_it_waits_for_was_written():
    plan = {
        "writes": [write("client")],
        "writes_after": [{"after": "client", "definition": write("basic", create=False)}],
        "secrets": [{"name": "client", "action": "created"}, {"name": "basic", "action": "updated"}],
        "report": [{"name": "client", "action": "created"}, {"name": "basic", "action": "updated"}],
    }
    created = {"changed": True, "method": "create", "result": {"kind": "Secret"}}
    assert deferred_writes(plan, created) == [write("basic", create=False)]
    refused = {"error": {"msg": _status(403, "Forbidden", "no create")}}
    assert deferred_writes(plan, refused) == []
    report = secret_report(plan, refused)
    assert [e["name"] for e in report["errors"]] == ["client", "basic"]
    assert "moves to client" in report["errors"][1]["error"]
    assert (
        secret_report(plan, created, {"changed": True, "method": "update", "result": {"kind": "Secret"}})["errors"]
        == []
    )
