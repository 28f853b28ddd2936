# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private to this collection: the devpi_secrets role's decide step, computed once, in the controller process.

From the checked inputs and what the read found, ``plan`` draws every generated value (the body of ``random_b64``),
makes the basic-auth line (the body of ``htpasswd_bcrypt``), both run as their action plugins run them
(``controller_module.ControllerModule``: same argument checks, same masking), and hands their results to
``secret_plan.secret_plan``, which decides what every Secret must hold and which writes get it there. The role's YAML
only sequences phases and sends writes; no rule is derived again in Jinja.

It also decides which workloads of the namespace to restart (``_consumers.restarts``): those whose pod templates
reference a Secret whose data this run changes, when ``restart_consumers`` is on and the read listed the workloads;
and warns about the mounts of ``devpi-secret`` that devpi-server refuses (``_consumers.mount_warnings``).

A failure of a body (or an exception inside one) is not raised: it becomes a value-free ``problem`` that the role's
next task, without ``no_log``, reports before any write.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from ansible_collections.theedgeworks.devpi.plugins.module_utils import htpasswd_bcrypt, random_b64
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages, _audit, _consumers, _flux_copy
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import (
    ControllerModule,
    value_free_failure,
)
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._keycloak_client import keycloak_plan
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import scrub
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import (
    draw_args,
    generated_values,
    given_inputs,
    rotating,
    secret_plan,
    stored_text,
    with_copy,
)
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import secret_report

#: the loop variable the results are registered under, as a task loop would (secret_plan reads it)
LOOP_VAR = "_devpi_secrets_key"


def _run(name, body, params, spec, check_mode, diff):
    """A body's result; an exception inside it (a library may quote its input) becomes a value-free failure."""
    try:
        return ControllerModule.run_body(params, spec, check_mode, diff, body)
    except Exception as error:  # noqa: BLE001 - any library error: its text may hold a value
        return value_free_failure(name, error)


def draw(table, cluster, supplied, user, rotate, check_mode=False, diff=False):
    """``{"results": [...]}``: one ``random_b64`` result per generated key, as a registered loop holds them.

    Skipped: a Secret managed only without an input that was given (the client Secret of a given password), and a
    password that works (``draw_args`` says ``never``: kept as it is, no draw).
    """
    given = given_inputs(supplied)
    args = draw_args(table, cluster, user, rotate)
    results = []
    for row in table:
        for key_row in row["keys"]:
            if key_row["from"] != "generated":
                continue
            item = {LOOP_VAR: [row, key_row], "ansible_loop_var": LOOP_VAR}
            decided = args[row["name"]][key_row["key"]]
            if row.get("only_without_input") in given or decided["regenerate"] == "never":
                item.update(skipped=True, changed=False)
            else:
                params = {
                    "num_bytes": key_row["num_bytes"],
                    "alphabet": key_row["alphabet"],
                    "repair": key_row["repair"],
                    "regenerate": decided["regenerate"],
                }
                if decided["current"] is not None:
                    params["current"] = decided["current"]
                item.update(
                    _run(
                        "theedgeworks.devpi.random_b64",
                        random_b64.run,
                        params,
                        random_b64.ARGUMENT_SPEC,
                        check_mode,
                        diff,
                    )
                )
            results.append(item)
    return {"results": results}


def hash_line(table, cluster, supplied, random, user, cost, rotate, check_mode=False, diff=False):
    """The ``htpasswd_bcrypt`` result for the basic-auth user: the given password, else the generated one."""
    password_row, password_key = next((row, key) for row in table for key in row["keys"] if key.get("password_of"))
    hashed_in = password_key["password_of"]
    given = "basic_auth_password" in given_inputs(supplied)
    password = (supplied or {}).get("basic_auth_password")
    if not given:
        password = generated_values(random, cluster, table, user).get(password_row["name"], {}).get(password_key["key"])
    params = {
        "users": [{"name": user, "password": password}],
        "cost": cost,
        # A given password that is rotated gets a new salt; a generated one is new anyway.
        "regenerate": "always" if given and rotating(_row(table, hashed_in), rotate) else "full_idempotence",
    }
    current = stored_text(cluster, hashed_in, "auth")  # the cluster's, else the encrypted copy's
    if current is not None:
        params["current"] = current
    return _run(
        "theedgeworks.devpi.htpasswd_bcrypt",
        htpasswd_bcrypt.run,
        params,
        htpasswd_bcrypt.ARGUMENT_SPEC,
        check_mode,
        diff,
    )


def _row(table, name):
    return next(row for row in table if row["name"] == name)


def _failures(random, htpasswd, known):
    problems = []
    for result in random["results"]:
        if result.get("failed"):
            row, key_row = result[LOOP_VAR]
            problems.append(
                "Cannot make %s/%s (random_b64): %s" % (row["name"], key_row["key"], scrub(result.get("msg"), known))
            )
    if htpasswd.get("failed"):
        problems.append("Cannot make the basic-auth line (htpasswd_bcrypt): %s" % scrub(htpasswd.get("msg"), known))
    return problems


def read_problem(cluster, inputs):
    """Why the cluster read cannot be planned from (value-free, naming the variables), or ''.

    The read's error is the API server's text (the cluster_state lookup returns it instead of raising it); a missing
    namespace is a problem only when the role may not create it; a Terminating one always is.
    """
    namespace = inputs["namespace"]
    read = cluster.get("namespace") or {}
    where = cluster.get("error_in", "")
    if cluster.get("error") and where == "secrets":
        return "Cannot read the Secrets of namespace '%s': %s" % (namespace, cluster["error"])
    if cluster.get("error") and where == "workloads":
        return (
            "Cannot list the Deployments, StatefulSets and DaemonSets of namespace '%s' (to restart those that read a "
            "Secret whose data changes): %s. Grant get, list and patch on them (README, Least-privilege RBAC) or set "
            "devpi_secrets_restart_consumers to false." % (namespace, cluster["error"])
        )
    if cluster.get("error"):
        kubeconfig = inputs.get("kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config"
        return (
            "Cannot read namespace '%s' from the Kubernetes API (devpi_secrets_kubeconfig='%s', "
            "devpi_secrets_context='%s'): %s"
            % (namespace, kubeconfig, inputs.get("context") or "(current context)", cluster["error"])
        )
    if read.get("phase") == "Terminating":
        return (
            "Namespace '%s' (devpi_secrets_namespace) is being deleted (phase Terminating): wait until it is gone, or "
            "check the finalizers that hold it." % namespace
        )
    if not read.get("exists") and not inputs.get("create_namespace"):
        return (
            "Namespace '%s' (devpi_secrets_namespace) does not exist and devpi_secrets_create_namespace is false."
            % namespace
        )
    return ""


def data_changes(secrets, cluster):
    """The names of the planned Secrets whose data this run changes: created, replaced, or with other data (a
    change of labels only is not one)."""
    current = (cluster or {}).get("secrets") or {}
    changed = []
    for entry in secrets:
        if entry["action"] == "kept":
            continue
        before = (current.get(entry["name"]) or {}).get("data") or {}
        wanted = {key: value for key, value in entry["data"].items() if value is not None}
        if entry["action"] in ("created", "replaced") or wanted != before:
            changed.append(entry["name"])
    return changed


def consumers(result, cluster, inputs, clock=None):
    """``restarts`` (the workloads that read a Secret whose data changes; empty when restart_consumers is off or
    the workloads were not read) and ``mount_warnings``, from the workload summaries the read returned."""
    workloads = (cluster or {}).get("workloads")
    if not inputs.get("restart_consumers", True) or workloads is None:
        return [], []
    changed = data_changes(result["secrets"], cluster)
    restarts = _consumers.restarts(workloads, changed, inputs["namespace"], _consumers.now_rfc3339(clock))
    return restarts, _consumers.mount_warnings(workloads, inputs["namespace"])


def _stopped(problems):
    """The plan of a run that stops before any write: its problems, nothing to write, no copy to keep."""
    return {
        "problems": problems,
        "changes": False,
        "notes": [],
        "secrets": [],
        "report": [],
        "restarts": [],
        "mount_warnings": [],
        "backup": {"action": "off", "changes": [], "values": {}, "types": {}},
    }


def plan(
    table,
    cluster,
    supplied,
    inputs,
    rotate,
    base_labels,
    check_mode=False,
    diff=False,
    clock=None,
    copy=None,
    tls=None,
    keycloak=None,
):
    """The plan of ``secret_plan.secret_plan``, made from fresh draws and the basic-auth line, plus ``warnings`` of
    the two bodies, ``restarts`` and ``mount_warnings`` (see ``consumers``); ``problems`` also holds the bodies'
    failures (scrubbed of every supplied value), or why the cluster read cannot be planned from (then nothing is
    drawn).

    ``inputs["max_age_days"]``: a Secret whose generated value is older is rotated as if ``rotate`` named it
    (``_ages.due_for_rotation``); the writes carry the age stamps and the report the ages (``_ages.stamp_plan``).
    ``clock``: what gives the time ages are measured at and new values stamped with (tests; default: the clock).

    ``copy``: the encrypted copy as the ``backup_read`` lookup read it (None or ``enabled: false``: no copy). A
    generated value the cluster lacks is taken from it rather than drawn; what the copy must hold after the run is the
    plan's ``backup`` (``secret_plan.copy_plan``).

    ``inputs["audit"]``: audit without change (``_audit.py``). The plan is made as on any run, then its findings
    go to ``audit`` (``report``, ``files``, ``summary``) and it is emptied of writes: ``changes`` false, no
    ``writes``, ``deletes`` or restarts, no ``problems`` that are findings (a wrong type, a Secret not owned, a
    missing namespace that may not be created). ``tls``: check_inputs' facts of the certificate; ``keycloak``: the
    Keycloak client's plan (``_keycloak_client.keycloak_plan``) when it was read."""
    auditing = bool(inputs.get("audit"))
    # The copy's read error (a missing or wrong identity, a damaged file) is value-free and names the variable. An
    # audit reports a missing namespace (a finding) whether or not the role may create it.
    read_inputs = dict(inputs, create_namespace=True) if auditing else inputs
    unreadable = read_problem(cluster, read_inputs) or (copy or {}).get("error") or ""
    if unreadable:
        return _stopped([unreadable])
    now = clock() if clock else datetime.now(timezone.utc)
    max_ages = inputs.get("max_age_days") or {}
    due, age_warnings = _ages.due_for_rotation(table, cluster, max_ages, now, given_inputs(supplied))
    requested = list(rotate)
    rotate = requested + [name for name in due if name not in requested]
    cluster = with_copy(cluster, copy)
    user = inputs["basic_auth_user"]
    random = draw(table, cluster, supplied, user, rotate, check_mode, diff)
    htpasswd = hash_line(table, cluster, supplied, random, user, inputs["basic_auth_cost"], rotate, check_mode, diff)
    # The supplied secrets, to scrub from a failure's text; not the public inputs (a client ID or user name would
    # shred the message).
    public = {key["input"] for row in table for key in row["keys"] if key["from"] == "input" and key.get("public")}
    known = [str(value) for name, value in (supplied or {}).items() if value and name not in public]
    failures = _failures(random, htpasswd, known)
    if failures:
        return _stopped(failures)
    result = secret_plan(
        table,
        cluster,
        supplied,
        random,
        htpasswd,
        inputs.get("labels") or {},
        rotate,
        inputs["namespace"],
        base_labels=base_labels,
        with_diff=diff,
        adopt=inputs.get("adopt") or [],
        replace_wrong_type=inputs.get("replace_wrong_type", False),
    )
    _ages.stamp_plan(table, cluster, result, requested, due, max_ages, now)
    result["restarts"], result["mount_warnings"] = consumers(result, cluster, inputs, clock)
    result["notes"] = result["notes"] + age_warnings + [w["message"] for w in result["mount_warnings"]]
    notices = [w for r in random["results"] for w in r.get("warnings") or []] + list(htpasswd.get("warnings") or [])
    result["module_warnings"] = [w for i, w in enumerate(notices) if w not in notices[:i]]
    if auditing:
        result["audit"] = _audit.audit(
            table, cluster, result, inputs, given_inputs(supplied), requested, due, now, tls, keycloak, check_mode
        )
        # Nothing of it is sent: the YAML skips the writes in audit mode, and there are none to send either.
        result.update(changes=False, writes=[], writes_after=[], deletes=[], restarts=[], problems=[])
    return result


# --------------------------------------------------------------------------- the whole step: validate, read, decide

#: what the role's tasks read of the checks besides the inputs (value-free)
CHECKED = ("rotate", "client_secret_given", "keycloak", "tls")


def keycloak_auth(inputs, secrets):
    """How the Keycloak client is read: the realm and client to log in with, and the one way in that was given."""
    return {
        "auth_realm": inputs.get("keycloak_auth_realm") or inputs.get("keycloak_realm"),
        "auth_client_id": inputs.get("keycloak_auth_client_id") or "admin-cli",
        "auth_client_secret": secrets.get("keycloak_auth_client_secret") or None,
        "auth_username": inputs.get("keycloak_auth_username") or None,
        "auth_password": secrets.get("keycloak_auth_password") or None,
        "validate_certs": inputs.get("keycloak_validate_certs", True),
    }


def read_keycloak(inputs, secrets, checked, read=None):
    """``(read, plan)``: the Keycloak client and its secret as read (one login; holds the secret and the token), and
    what it must get (``_keycloak_client.keycloak_plan``, value-free, with its ``problems``). ``read``: default
    ``_keycloak_read.read_client``, imported only here (a run without Keycloak does not pay for its imports)."""
    if read is None:
        from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._keycloak_read import read_client as read
    found = read(
        inputs["keycloak_url"], inputs["keycloak_realm"], inputs["oauth2_client_id"], keycloak_auth(inputs, secrets)
    )
    scrub_these = [
        secrets.get(name) or ""
        for name in ("keycloak_auth_client_secret", "keycloak_auth_password", "oauth2_client_secret")
    ]
    decided = keycloak_plan(
        found,
        inputs["tls_host"],
        inputs["oauth2_client_id"],
        inputs["keycloak_realm"],
        inputs["keycloak_url"],
        secrets.get("oauth2_client_secret") or "",
        scrub_these,
        secret_given=checked["client_secret_given"],
    )
    return found, decided


def _file_text(path, variable):
    """A TLS file's text, as checked moments ago; ``(text, problem)``."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8"), ""
    except (OSError, UnicodeDecodeError) as error:
        return None, "Cannot read %s (%s): %s." % (variable, path, getattr(error, "strerror", None) or "not UTF-8")


def supplied_values(inputs, secrets, checked, keycloak_found):
    """``(supplied, problems)``: the user-supplied values by the table's ``input`` names - an input not given is left
    out - and the TLS files, read by the absolute paths the checks resolved (the file checked is the file written)."""
    cert, cert_problem = _file_text(inputs["tls_cert_file"], "devpi_secrets_tls_cert_file")
    key, key_problem = _file_text(inputs["tls_key_file"], "devpi_secrets_tls_key_file")
    supplied = {
        "tls_cert": cert,
        "tls_key": key,
        "oauth2_client_id": inputs["oauth2_client_id"],
        "oauth2_client_secret": secrets.get("oauth2_client_secret")
        if checked["client_secret_given"]
        else (keycloak_found or {}).get("secret"),
        "basic_auth_user": inputs["basic_auth_user"],
    }
    if "basic_auth_password" in secrets:  # given: the one rule (given_inputs) reads this key
        supplied["basic_auth_password"] = secrets["basic_auth_password"]
    return supplied, [problem for problem in (cert_problem, key_problem) if problem]


def flux_incomplete(inputs):
    """The copy's Flux-ready form lacks a file (its folder was just given, or a file was lost): the run writes it from
    the copy even when the copy does not change (``_flux_copy.incomplete``)."""
    return bool(inputs.get("backup_file")) and _flux_copy.incomplete(inputs.get("backup_flux_dir") or "")


def run_plan(
    table,
    checked,
    base_labels,
    *,
    read_cluster,
    read_copy,
    pass_number=1,
    earlier=None,
    check_mode=False,
    diff=False,
    clock=None,
    keycloak_reader=None,
):
    """validate -> read -> decide, each step only when the ones before found no problem; never raises for a
    problem, never reads what a problem makes pointless.

    ``checked``: ``_inputs.check``'s result. ``read_cluster`` and ``read_copy``: the ``_cluster_state`` and
    ``_backup_read`` lookups (called with their options). ``pass_number`` 2: the second pass after a lost create race -
    nothing is rotated again, Keycloak is not read again (``earlier``: the first pass's ``keycloak_read``,
    ``keycloak`` and ``outcome``, which this pass's ``outcome`` adds to).

    Returns the plan (``plan``) and: ``inputs`` (public, converted), ``checked`` (value-free facts of the checks),
    ``keycloak`` (the Keycloak client's plan, value-free; {} without Keycloak) and ``keycloak_read`` (its read: the
    token and the secret), ``outcome`` (the value-free outcome of the pass if it writes nothing), ``copy_due`` (the
    encrypted copy or its Flux-ready form is to be written), ``namespace_exists``, and ``write``: the write phase
    runs - something is to be written to the cluster, Keycloak or the copy, and this is no audit. Every decision the
    role's YAML acts on is made here.
    """
    earlier = earlier or {}
    inputs = checked.get("inputs") or {}
    secrets = checked.get("secrets") or {}
    notices = list(checked.get("warnings") or [])
    facts = {
        "inputs": inputs,
        "checked": {name: checked.get(name) for name in CHECKED},
        "keycloak": earlier.get("keycloak") or {},
        "keycloak_read": earlier.get("keycloak_read") or {},
        "copy_due": False,
        "namespace_exists": False,
        "write": False,
    }

    def stop(problems):
        return dict(_stopped(problems), outcome={}, **facts)

    if checked.get("problems"):
        return stop(list(checked["problems"]))
    if checked["keycloak"] and pass_number == 1:
        facts["keycloak_read"], facts["keycloak"] = read_keycloak(inputs, secrets, checked, keycloak_reader)
        if facts["keycloak"]["problems"]:
            return stop(list(facts["keycloak"]["problems"]))
    supplied, problems = supplied_values(inputs, secrets, checked, facts["keycloak_read"])
    if problems:
        return stop(problems)
    cluster = read_cluster(
        namespace=inputs["namespace"],
        names=[row["name"] for row in table],
        kubeconfig=inputs.get("kubeconfig") or "",
        context=inputs.get("context") or "",
        validate_certs=inputs.get("validate_certs", True),
        workloads=bool(inputs.get("restart_consumers")),
    )
    facts["namespace_exists"] = bool((cluster.get("namespace") or {}).get("exists"))
    copy = read_copy(file=inputs.get("backup_file") or "", keyfile=inputs.get("backup_age_keyfile") or "")
    decided = plan(
        table,
        cluster,
        supplied,
        inputs,
        list(checked["rotate"]) if pass_number == 1 else [],
        base_labels,
        check_mode=check_mode,
        diff=diff,
        clock=clock,
        copy=copy,
        tls=checked.get("tls") or None,
        keycloak=facts["keycloak"] if checked["keycloak"] else None,
    )
    # The checks' and the two bodies' warnings join the plan's notes: the role reports them all at the end, in a task
    # that is shown on every ansible-core (a no_log task's own warnings are not).
    for notice in notices + decided.pop("module_warnings", []):
        if notice not in decided["notes"]:
            decided["notes"].append(notice)
    if decided["problems"]:
        return dict(decided, outcome={}, **facts)
    facts["copy_due"] = decided["backup"]["action"] in ("written", "updated") or flux_incomplete(inputs)
    if pass_number == 1:
        facts["write"] = not inputs.get("audit") and bool(
            decided["changes"] or facts["keycloak"].get("changes") or facts["copy_due"]
        )
    else:
        facts["write"] = bool(decided["changes"])
    outcome = secret_report(decided, {}, {}, {}, check_mode, earlier.get("outcome") or None)
    return dict(decided, outcome=outcome, **facts)
