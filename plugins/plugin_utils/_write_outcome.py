# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""What the writes did: read a ``kubernetes.core.k8s`` result back into one value-free outcome per write.

The role sends all its writes in one ``kubernetes.core.k8s`` task (a list of definitions, ``continue_on_error``), in
the order of the plan's ``writes``. The module returns one result per definition, or, for a single definition, that
result itself; a failure before the first definition (no client) fails the whole task. No Ansible imports.
"""

from __future__ import annotations

import base64
import binascii

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._consumers import WAYS, due_restarts
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._k8s_errors import status_in_text, status_line
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import scrub
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import loop_item


def describe_error(result, secrets=()):
    """``(text, conflict)``: one line (``HTTP <code> <reason>: <message>`` for API errors) and whether it is a 409.

    The text is scrubbed of ``secrets`` (see scrub.py): an admission webhook can quote the request in its message.
    """
    if not isinstance(result, dict):
        return "unknown error", False
    msg = result.get("msg") or result.get("error")
    if isinstance(msg, dict):
        msg = msg.get("msg")
    if not msg:
        return "no answer from the Kubernetes API (connection refused, timeout, TLS or kubeconfig problem)", False
    msg = str(msg)
    status = status_in_text(msg)
    if status is not None:
        return scrub(status_line(status), secrets), status.get("code") == 409
    return scrub(msg, secrets), False


#: The key a successful run of each module the role registers always returns (measured on ansible-core 2.17, 2.19
#: and 2.21 with the kubernetes.core and community.general their `ansible` packages bring): a result without it failed.
SUCCESS_KEYS = {
    "kubernetes.core.k8s": "result",
    "community.general.keycloak_client": "existing",
    "theedgeworks.devpi.random_b64": "generated",  # not "value": a kept value is not returned
    "theedgeworks.devpi.htpasswd_bcrypt": "lines",
}


def failed(result, module):
    """Whether a registered run of ``module`` failed - also when its task said ``failed_when: false``.

    The role registers its ``no_log`` tasks with ``failed_when: false``: ansible-core 2.19 and later print the failure
    text of a failing ``no_log`` task, which may quote what it sent. That sets ``failed`` to false, so a failure is
    recognised by its shape (measured): ``failed`` still true (a task registered with ``ignore_errors``); an
    ``exception`` (2.17 keeps a module's, 2.19+ move it to ``failed_when_suppressed_exception`` and, for a module that
    failed from an exception such as kubernetes.core's, drop its ``msg``); an ``error`` (kubernetes.core.k8s with
    ``continue_on_error``: its one definition failed); or no ``SUCCESS_KEYS[module]`` (``fail_json`` with a ``msg``
    only, on every version). A loop's registration failed when an item did; a skipped run did not fail.
    """
    if not isinstance(result, dict) or result.get("skipped"):
        return False
    if isinstance(result.get("results"), list):  # a loop (none of these modules returns a top-level `results`)
        return any(failed(item, module) for item in result["results"])
    if result.get("failed") or "exception" in result or "failed_when_suppressed_exception" in result:
        return True
    return "error" in result or SUCCESS_KEYS[module] not in result


def failure_text(result, module, secrets=()):
    """``''`` when the registered run of ``module`` did not fail (see ``failed``), else its message: scrubbed of
    ``secrets``, capped (scrub.py), never empty. A loop's: the failed items' messages, each after its label."""
    if not failed(result, module):
        return ""
    if isinstance(result.get("results"), list):
        texts = []
        for item in result["results"]:
            if failed(item, module):
                label = (item.get("_ansible_item_label") or "") if isinstance(item, dict) else ""
                texts.append((str(label) + ": " if label else "") + failure_text(item, module, secrets))
        return " ".join(texts)
    if module == "kubernetes.core.k8s":
        return describe_error(result, secrets)[0]
    msg = result.get("msg")
    if not msg:
        return "no message (ansible-core 2.19 and later drop the text of a module's exception under failed_when)"
    return scrub(msg, secrets)


def known_secrets(plan):
    """Every value of the plan that is not public: what it meant to write and what it read, as text."""
    values = []
    for entry in plan.get("secrets", []):
        public = set(entry.get("public") or [])
        for data in (entry.get("data") or {}, entry.get("before") or {}):
            for key, value in data.items():
                if value and key not in public:
                    try:
                        values.append(base64.b64decode(value, validate=True).decode("utf-8", "replace"))
                    except (binascii.Error, ValueError):
                        values.append(value)
    return values


def per_definition(registered, count):
    """One result per definition (``count`` of them), whatever shape the module returned."""
    if not isinstance(registered, dict) or registered.get("skipped") or count == 0:
        return []
    result = registered.get("result")
    if isinstance(result, dict) and isinstance(result.get("results"), list) and "method" not in registered:
        return result["results"]
    if failed(registered, "kubernetes.core.k8s") and "result" not in registered and "error" not in registered:
        # The task failed before any definition (client, kubeconfig): every write failed with its message.
        return [{"error": {"msg": registered.get("msg")}} for _index in range(count)]
    return [registered]


def _lost_create_race(definition, result):
    """A create that found a Secret made by someone else after the role's read (see CREATE_GUARD_UID)."""
    if "uid" not in (definition.get("metadata") or {}):
        return False
    error = result.get("error")
    if error:
        text = str(error.get("msg") if isinstance(error, dict) else error)
        return "metadata.uid" in text and "immutable" in text
    # kubernetes.core.k8s answers a 409 on create with a warning and an empty result.
    return result.get("method") == "create" and not result.get("result")


def outcomes(writes, registered, secrets=()):
    """Per write: ``{kind, name, status}``; status ``written``, ``raced`` or ``failed`` (+ ``error``, ``conflict``)."""
    results = per_definition(registered, len(writes))
    out = []
    for index, definition in enumerate(writes):
        meta = definition.get("metadata") or {}
        item = {"kind": definition.get("kind"), "name": meta.get("name"), "status": "planned"}
        if index < len(results):
            result = results[index] or {}
            if _lost_create_race(definition, result):
                item["status"] = "raced"
            elif result.get("error"):
                text, conflict = describe_error(result["error"], secrets)
                item.update(status="failed", error=text, conflict=conflict)
            else:
                item["status"] = "written"
        out.append(item)
    return out


def deferred_writes(plan, registered):
    """The definitions of ``plan['writes_after']`` whose Secret (``after``) was written by the first write task."""
    done = {o["name"] for o in outcomes(plan.get("writes", []), registered) if o["status"] == "written"}
    return [item["definition"] for item in plan.get("writes_after", []) if item["after"] in done]


def _delete_outcomes(deleted, secrets):
    out = []
    for result in (deleted or {}).get("results", []) or []:
        if failed(result, "kubernetes.core.k8s"):
            text, conflict = describe_error(result.get("error") or result, secrets)
            if conflict or "recondition" in text:
                text += " (it was changed or recreated after this run read it: not deleted)"
            name = (loop_item(result) or {}).get("name", "?")
            out.append({"kind": "Secret", "name": name, "status": "failed", "error": text, "conflict": conflict})
            out[-1]["verb"] = "delete"
    return out


def secret_report(plan, registered, registered_after=None, deleted=None, check_mode=False, previous=None):
    """The value-free outcome of one pass: ``secrets`` (the plan's report with what happened), ``errors``,
    ``raced`` (Secrets whose create lost to another run), ``warnings``.

    ``registered``: the result of the task that sent ``plan['writes']``; ``registered_after``: of the task that sent
    ``deferred_writes(plan, registered)``; ``deleted``: of the wrong-type delete loop (when one failed, no write was
    sent). ``previous``: the outcome of the first pass, when this is the second one (run only after a lost race): the
    Secrets that raced then are reported as this pass found and wrote them, noted as created by a concurrent run.
    """
    secrets = known_secrets(plan)
    results = _delete_outcomes(deleted, secrets)
    if results:
        for definition in plan.get("writes", []) + [item["definition"] for item in plan.get("writes_after", [])]:
            meta = definition.get("metadata") or {}
            if not any(r["name"] == meta.get("name") for r in results):
                results.append(
                    {
                        "kind": definition.get("kind"),
                        "name": meta.get("name"),
                        "status": "failed",
                        "error": "not written: a delete was refused first",
                        "conflict": False,
                    }
                )
    else:
        results = outcomes(plan.get("writes", []), registered, secrets)
        sent_after = deferred_writes(plan, registered)
        results += outcomes(sent_after, registered_after, secrets)
        sent_names = {(d.get("metadata") or {}).get("name") for d in sent_after}
        for item in plan.get("writes_after", []):
            name = item["definition"]["metadata"]["name"]
            if name not in sent_names:
                results.append(
                    {
                        "kind": "Secret",
                        "name": name,
                        "status": "failed",
                        "error": "not written: a value it holds moves to %s, which was not written" % item["after"],
                        "conflict": False,
                    }
                )
    by_name = {(o["kind"], o["name"]): o for o in results}
    report = []
    for entry in plan.get("report", []):
        item = dict(entry)
        outcome = by_name.get(("Secret", item["name"]))
        if outcome is not None and outcome["status"] == "failed":
            item["error"] = outcome["error"]
        report.append(item)
    errors = [dict(o, verb=_verb(plan, o)) for o in results if o["status"] == "failed"]
    raced = [o["name"] for o in results if o["status"] == "raced"]
    warnings = list(plan.get("notes", []))
    if raced:
        warnings.append(
            "%s appeared between this run's read and its create (another run created %s): read again and brought to "
            "the inputs, keeping the generated values." % (", ".join(raced), "it" if len(raced) == 1 else "them")
        )
    outcome = {"secrets": report, "errors": errors, "raced": raced, "warnings": warnings}
    outcome["check_mode"] = bool(check_mode)
    # The workloads to restart: those of the plan of which a changed Secret was written (accepted, in check mode).
    written = [o["name"] for o in results if o["kind"] == "Secret" and o["status"] == "written"]
    outcome["restarts"] = due_restarts(plan.get("restarts", []), written)
    outcome["mount_warnings"] = list(plan.get("mount_warnings", []))
    return _after(previous, outcome) if previous else outcome


def _after(first, second):
    """The first pass's outcome, updated by the second pass for the Secrets that raced in the first."""
    raced = set(first["raced"])
    now = {item["name"]: item for item in second["secrets"]}
    report = []
    for item in first["secrets"]:
        if item["name"] in raced and item["name"] in now:
            item = dict(now[item["name"]])
            brought = ", then brought to the inputs" if item["action"] != "kept" else ""
            item["note"] = "created by a concurrent run" + brought
        report.append(item)
    second_errors = {(e["kind"], e["name"]) for e in second["errors"]}
    errors = [e for e in first["errors"] if (e["kind"], e["name"]) not in second_errors] + second["errors"]
    for name in second["raced"]:
        errors.append(
            {"kind": "Secret", "name": name, "verb": "create", "status": "failed", "conflict": True,
             "error": "lost a create race twice: another run keeps writing it; run again"}
        )  # fmt: skip
    warnings = first["warnings"] + [w for w in second["warnings"] if w not in first["warnings"]]
    # A workload restarts once, for the Secrets of both passes.
    restarts = {(item["kind"], item["name"]): item for item in first.get("restarts", [])}
    for item in second.get("restarts", []):
        key = (item["kind"], item["name"])
        if key in restarts:
            merged = dict(restarts[key])
            merged["secrets"] = sorted(set(merged["secrets"]) | set(item["secrets"]))
            merged["ways"] = [w for w in WAYS if w in set(merged["ways"]) | set(item["ways"])]
            item = merged
        restarts[key] = item
    return {"secrets": report, "errors": errors, "raced": [], "warnings": warnings, "check_mode": first["check_mode"],
            "restarts": list(restarts.values()), "mount_warnings": first.get("mount_warnings", [])}  # fmt: skip


def restart_outcome(due, registered, check_mode, secrets=()):
    """Per restart the outcome's ``restarts`` named (the patches sent, in order): ``{kind, name, secrets, ways,
    action[, error]}``, action ``would restart`` (check mode: nothing is sent), ``restarted`` or ``failed`` (with the
    API's one-line error), from the registered result of the patch task (``continue_on_error``)."""
    results = [] if check_mode else per_definition(registered, len(due))
    out = []
    for index, item in enumerate(due or []):
        entry = {key: item[key] for key in ("kind", "name", "secrets", "ways")}
        result = results[index] if index < len(results) else None
        if check_mode:
            entry["action"] = "would restart"
        elif result is None:
            entry["action"] = "not restarted"
        elif result.get("error"):
            entry["action"] = "failed"
            entry["error"] = describe_error(result["error"], secrets)[0]
        else:
            entry["action"] = "restarted"
        out.append(entry)
    return out


def _verb(plan, outcome):
    if outcome.get("verb"):
        return outcome["verb"]
    if outcome["kind"] == "Namespace":
        return "create"
    for entry in plan.get("secrets", []):
        if entry["name"] == outcome["name"]:
            return "create" if entry["action"] in ("created", "replaced") else "update"
    return "write"
