# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Audit without change (``devpi_secrets_audit``): what a run would change or what is at risk, as findings (pure
functions, no Ansible imports).

The plan step (``_plan.py``) makes its plan as on any run - from the same reads - and, in audit mode, hands it here:
every Secret the plan would write, every generated value past or near its maximum age, the certificate within its
warning window, the Keycloak client's missing entries and the encrypted copy's missing or stale values become one
finding each: ``{kind, entry, reason}`` plus, for some reasons, public numbers (ages, days left) or public names (a
redirect URI). A finding never holds a value, hash, length or fingerprint of a value.

``entry`` names what is affected: the namespace; a Secret (``devpi-tls``) or one of its keys
(``devpi-secret/secret``); the Keycloak client ID; the encrypted copy's file, or a key in it. ``reason`` is one of
``REASONS``. The report (``report``) is the JSON written to ``devpi_secrets_audit_report`` and the fact
``devpi_secrets_audit_result``; ``prometheus`` renders it in the text format node_exporter's textfile collector reads
(no sample timestamps: the collector refuses them).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import datetime, timezone

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import not_owned, rotation_owner
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._version import COLLECTION_VERSION

FORMAT = 1
#: every reason a finding can give, and what it means (README, Audit)
REASONS = {
    "namespace_missing": "the namespace does not exist",
    "secret_missing": "the Secret does not exist (restorable: the encrypted copy holds its generated values)",
    "wrong_type": "the Secret has another (immutable) type",
    "not_owned": "the Secret would be written but lacks the label app.kubernetes.io/managed-by=theedgeworks.devpi",
    "user_value_differs": "a value the user supplies differs from the cluster's",
    "value_missing": "a key the Secret must hold is absent",
    "value_invalid": "a generated value is not of its form and would be drawn again",
    "repair_needed": "a generated value would be re-encoded (same bytes, other base64 alphabet)",
    "htpasswd_outdated": "the htpasswd line does not verify the password at the cost, or the password changes",
    "key_to_move": "a key must move to another Secret (a migration from an older release)",
    "labels_differ": "only the Secret's labels would change",
    "rotation_requested": "devpi_secrets_rotate names the Secret",
    "max_age_exceeded": "a generated value is older than devpi_secrets_max_age_days",
    "max_age_near": "a generated value is within devpi_secrets_audit_warning_days of devpi_secrets_max_age_days",
    "certificate_expiring": "the certificate ends within devpi_secrets_tls_expiry_warning_days",
    "keycloak_redirect_uri_missing": "the Keycloak client lacks oauth2-proxy's redirect URI",
    "keycloak_web_origin_missing": "the Keycloak client lacks the web origin",
    "copy_missing": "devpi_secrets_backup_file does not exist yet",
    "copy_out_of_date": "the encrypted copy lacks a generated value the cluster holds, or holds another one",
}
PROMETHEUS_SUFFIX = ".prom"


def prometheus_path(report_path):
    """The textfile beside the JSON report: the same path with the extension ``.prom`` (``devpi.json`` ->
    ``devpi.prom``; a path without extension gets it appended)."""
    return os.path.splitext(report_path)[0] + PROMETHEUS_SUFFIX


def write_files(files, mode=0o644):
    """Write each ``{path, content}`` through a temporary file in its folder, renamed into place (a reader - the
    textfile collector - sees the old file or the new one); ``mode`` 0644: no value inside. A file that already holds
    the content is left alone. Returns the paths written."""
    written = []
    for item in files:
        path, content = item["path"], item["content"].encode("utf-8")
        with contextlib.suppress(OSError), open(path, "rb") as current:
            if current.read() == content and (os.stat(path).st_mode & 0o777) == mode:
                continue
        handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path) or ".")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        written.append(path)
    return written


def _finding(kind, entry, reason, **extra):
    out = {"kind": kind, "entry": entry, "reason": reason}
    out.update(extra)
    return out


def secret_findings(table, cluster, result, given, requested, due, adopt=()):
    """The findings of the plan's Secrets: one per Secret that would be created or replaced, one per rotation (by the
    Secret that rotates), one per key that would change otherwise, ``labels_differ`` when nothing else would."""
    rows = {row["name"]: row for row in table}
    current = (cluster or {}).get("secrets") or {}
    findings, rotations = [], []
    for entry in result.get("secrets") or []:
        name, action = entry["name"], entry["action"]
        row = rows.get(name)
        if row is None or action == "kept":
            continue
        if name not in current:
            findings.append(_finding("Secret", name, "secret_missing", restorable=action == "restored"))
            continue
        if action == "replaced":
            findings.append(
                _finding("Secret", name, "wrong_type", type=entry["current_type"], expected_type=entry["type"])
            )
            continue
        rotated = action == "rotated"
        owner = rotation_owner(row)
        if rotated and owner not in rotations:
            rotations.append(owner)
            if owner in (due or {}) and owner not in (requested or ()):
                found = due[owner]
                findings.append(
                    _finding(
                        "Secret",
                        found["key"],
                        "max_age_exceeded",
                        age_days=found["age_days"],
                        age_is_lower_bound=bool(found["at_least"]),
                        max_age_days=found["max_age_days"],
                    )
                )
            else:
                findings.append(_finding("Secret", owner, "rotation_requested"))
        before = current[name].get("data") or {}
        keys = []
        for key_row in row["keys"]:
            key = key_row["key"]
            wanted = entry["data"].get(key)
            if wanted == before.get(key) or (wanted is None and key not in before):
                continue
            source = key_row["from"]
            if source == "input":
                reason = "user_value_differs"
            elif source == "moved":
                reason = "key_to_move"
            elif rotated:
                continue  # the rotation is the finding
            elif source == "htpasswd":
                # the hash of a password the user gives is a user value; of a generated one, the role's own
                given_password = key_row.get("copy_only_without_input") in given
                reason = "user_value_differs" if given_password else "htpasswd_outdated"
            elif key not in before:
                reason = "value_missing"
            elif action == "repaired":
                reason = "repair_needed"
            else:
                reason = "value_invalid"
            keys.append(_finding("Secret", "%s/%s" % (name, key), reason))
        findings.extend(keys)
        if not keys and not rotated:
            findings.append(_finding("Secret", name, "labels_differ"))
    owned = {f["entry"] for f in findings if f["reason"] in ("secret_missing", "wrong_type")}
    for name in not_owned(table, result.get("secrets") or [], current, adopt):
        if name not in owned:
            findings.append(_finding("Secret", name, "not_owned"))
    return findings


def near_findings(table, cluster, max_ages, warning_days, now, given, due):
    """``max_age_near``: per Secret with a maximum age that is not due yet, its oldest generated value when it is
    more than ``max - warning_days`` whole days old (the run that rotates it is at most that many days away)."""
    early = {name: max(limit - warning_days, 0) for name, limit in (max_ages or {}).items() if name not in due}
    soon, _warnings = _ages.due_for_rotation(table, cluster, early, now, given)
    return [
        _finding(
            "Secret",
            found["key"],
            "max_age_near",
            age_days=found["age_days"],
            age_is_lower_bound=bool(found["at_least"]),
            max_age_days=max_ages[name],
        )
        for name, found in sorted(soon.items())
    ]


def certificate_findings(tls, warning_days, now):
    """``certificate_expiring`` when the certificate given (check_inputs read it) ends within the warning window -
    the rule of ``_tls.check_pair``'s warning. (An expired one fails validation before anything is read.)"""
    not_after = _ages.parse_time((tls or {}).get("not_after"))
    if not_after is None:
        return []
    left = (not_after - now).total_seconds()
    if left > warning_days * _ages.DAY:
        return []
    return [
        _finding(
            "Secret",
            "devpi-tls/tls.crt",
            "certificate_expiring",
            not_after=tls["not_after"],
            days_left=max(0, int(left // _ages.DAY)),
            warning_days=warning_days,
        )
    ]


def keycloak_findings(keycloak, client_id):
    """The entries the Keycloak client lacks (``keycloak_plan``'s additions), one finding each."""
    keycloak = keycloak or {}
    return [
        _finding("KeycloakClient", client_id, "keycloak_redirect_uri_missing", missing=uri)
        for uri in keycloak.get("redirect_uris_added") or []
    ] + [
        _finding("KeycloakClient", client_id, "keycloak_web_origin_missing", missing=origin)
        for origin in keycloak.get("web_origins_added") or []
    ]


def copy_findings(backup, cluster, path):
    """The encrypted copy: missing (``copy_missing``, the file), or per value it lacks, holds otherwise, or holds but
    should not (``copy_out_of_date``, ``secret/key``, with ``why``)."""
    backup = backup or {}
    action = backup.get("action")
    if action == "written":
        return [_finding("EncryptedCopy", path, "copy_missing")]
    if action != "updated":
        return []
    findings = [
        _finding("EncryptedCopy", "%s/%s" % (c["secret"], c["key"]), "copy_out_of_date", why=c["why"])
        for c in backup.get("changes") or []
    ]
    held = (((cluster or {}).get("copy") or {}).get("values")) or {}
    values = backup.get("values") or {}
    for name in sorted(held):
        for key in sorted(held[name]):
            if key not in values.get(name, {}):
                findings.append(_finding("EncryptedCopy", "%s/%s" % (name, key), "copy_out_of_date", why="dropped"))
    return findings


def _ages_of(result):
    out = []
    for item in result.get("report") or []:
        for key, found in sorted((item.get("ages") or {}).items()):
            one = {"secret": item["name"], "key": key, "age_days": found.get("age_days")}
            if found.get("age_days") is None and found.get("at_least_days") is not None:
                one["at_least_days"] = found["at_least_days"]
            if item.get("max_age_days") is not None:
                one["max_age_days"] = item["max_age_days"]
            out.append(one)
    return out


def audit(table, cluster, result, inputs, given, requested, due, now, tls=None, keycloak=None, check_mode=False):
    """``{report, prometheus, files, summary}`` of an audit; ``result`` is the plan (with its ``backup``) as the run
    would write it. ``files``: what the role writes on the controller (``[{path, content}]``, none without
    ``devpi_secrets_audit_report``); ``summary``: the failure message (value-free; empty when nothing was found)."""
    namespace = inputs["namespace"]
    findings = []
    if not ((cluster or {}).get("namespace") or {}).get("exists"):
        findings.append(_finding("Namespace", namespace, "namespace_missing"))
    findings += secret_findings(table, cluster, result, given, requested, due, inputs.get("adopt") or ())
    max_ages = inputs.get("max_age_days") or {}
    findings += near_findings(table, cluster, max_ages, inputs.get("audit_warning_days", 14), now, given, due)
    findings += certificate_findings(tls, inputs.get("tls_expiry_warning_days", 30), now)
    if inputs.get("keycloak_url"):
        findings += keycloak_findings(keycloak, inputs.get("oauth2_client_id"))
    findings += copy_findings(result.get("backup"), cluster, inputs.get("backup_file") or "")
    report = {
        "format": FORMAT,
        "collection_version": COLLECTION_VERSION,
        "namespace": namespace,
        "checked_at": _ages.timestamp(now),
        "check_mode": bool(check_mode),
        "ok": not findings,
        "findings": findings,
        "ages": _ages_of(result),
        "certificate": {"not_after": (tls or {}).get("not_after", "")},
        "backup_file": inputs.get("backup_file") or "",
    }
    path = inputs.get("audit_report") or ""
    files = []
    if path:
        files = [
            {"path": path, "content": json.dumps(report, indent=2, sort_keys=True) + "\n"},
            {"path": prometheus_path(path), "content": prometheus(report, now)},
        ]
    return {"report": report, "files": files, "summary": summary(report, path)}


def summary(report, path=""):
    """The audit's failure message: the findings by entry and reason, and where the report is. Empty when ok."""
    if report["ok"]:
        return ""
    count = len(report["findings"])
    listed = ", ".join("%s (%s)" % (f["entry"], f["reason"]) for f in report["findings"])
    where = "; the report is %s (and %s)" % (path, prometheus_path(path)) if path else ""
    text = "The audit of namespace '%s' found %d thing%s that would change or %s at risk: %s. Nothing was written%s."
    return text % (
        report["namespace"],
        count,
        "" if count == 1 else "s",
        "is" if count == 1 else "are",
        listed,
        where,
    )


def _label(value):
    """A label value of the text format: backslash, double quote and line feed escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (name, _label(value)) for name, value in labels.items())


def prometheus(report, now=None):
    """The report in the Prometheus text exposition format (0.0.4), as node_exporter's textfile collector reads it:
    gauges, one HELP and TYPE per family, no timestamps."""
    namespace = report["namespace"]
    lines = []

    def family(name, help_text, samples):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        for labels, value in samples:
            lines.append("%s%s %s" % (name, _labels(namespace=namespace, **labels), value))

    moment = now or _ages.parse_time(report["checked_at"]) or datetime.now(timezone.utc)
    family(
        "devpi_secrets_audit_ok",
        "1 when the last devpi_secrets audit found nothing that would change or is at risk, else 0.",
        [({}, 1 if report["ok"] else 0)],
    )
    family(
        "devpi_secrets_audit_findings",
        "Number of findings of the last devpi_secrets audit.",
        [({}, len(report["findings"]))],
    )
    family(
        "devpi_secrets_audit_finding",
        "One series per finding of the last devpi_secrets audit: what (kind, entry) and why (reason).",
        [({"kind": f["kind"], "entry": f["entry"], "reason": f["reason"]}, 1) for f in report["findings"]],
    )
    family(
        "devpi_secrets_audit_timestamp_seconds",
        "When the last devpi_secrets audit ran (Unix time).",
        [({}, int(moment.timestamp()))],
    )
    known = [a for a in report["ages"] if a["age_days"] is not None]
    family(
        "devpi_secrets_value_age_days",
        "Whole days since each generated value of the devpi Secrets was made (values of unknown age are left out).",
        [({"secret": a["secret"], "key": a["key"]}, a["age_days"]) for a in known],
    )
    not_after = _ages.parse_time(report["certificate"].get("not_after"))
    if not_after is not None:
        family(
            "devpi_secrets_tls_not_after_timestamp_seconds",
            "When the certificate given for devpi-tls ends (Unix time).",
            [({}, int(not_after.timestamp()))],
        )
    return "\n".join(lines) + "\n"
