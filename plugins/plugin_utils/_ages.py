# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""How old each generated value is, and which are due for rotation (pure functions, no Ansible imports).

Each Secret that holds a generated value carries one annotation, ``theedgeworks.devpi/generated-at``: compact JSON,
one entry per stamped key - the generated keys (``from: generated``) and the htpasswd line made from the password
(``from: htpasswd``) - never a value, a hash or a length::

    {"secret":{"at":"2026-12-03T08:40:00Z","by":"3.0.0"}}

``at``: when the value was made (created, rotated, or drawn again because the stored one was invalid), in UTC to the
second; ``by``: the collection version that made it. A value the role finds without a stamp - made by the seed's
manual recipe, or by a release before stamps - is kept, and its age is unknown; when its Secret is written anyway
(the labels of an adopted Secret, a changed user value), the entry is ``{"seen": <now>, "by": ...}`` instead: first
seen then, so at least that old. A stamp never causes a write of its own: a re-run that changes nothing writes
nothing, and a written Secret carries the stamps of its kept values byte for byte. A repaired value (same bytes,
URL-safe form) keeps its age.

Scheduled rotation (``devpi_secrets_max_age_days``: rotatable Secret name -> days): a Secret is due when one of its
generated values - those of the Secrets rotated with it included (``rotated_with``) - is more whole days old than
its maximum (``at``), or was first seen longer ago than that (``seen``: older still). A value of unknown age is not
rotated; the plan warns instead. ``due_for_rotation`` decides, the plan step adds the due Secrets to the rotation
set before anything is drawn, exactly as ``devpi_secrets_rotate`` would, and ``stamp_plan`` writes the stamps into
the planned writes and the ages and reasons into the report.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import rotation_owner
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._version import COLLECTION_VERSION

ANNOTATION = "theedgeworks.devpi/generated-at"
DAY = 86400
#: the table's key sources that get a stamp: made by the role, not supplied by the user
STAMPED_SOURCES = ("generated", "htpasswd")
MAX_AGE_VARIABLE = "devpi_secrets_max_age_days"


def timestamp(moment):
    """RFC 3339, UTC, to the second: ``2026-12-03T08:40:00Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    """The moment of a ``timestamp()`` text, or None."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def dump(stamps):
    """The annotation's text: compact JSON with sorted keys (the same stamps always give the same bytes)."""
    return json.dumps(stamps, sort_keys=True, separators=(",", ":"))


def read_stamps(state):
    """``{key: {at|seen, by}}`` of a Secret as the read found it (None: absent); malformed entries are left out, a
    malformed annotation is no stamp at all."""
    text = (((state or {}).get("annotations")) or {}).get(ANNOTATION)
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    out = {}
    for key, stamp in parsed.items():
        if not isinstance(stamp, dict):
            continue
        when = [name for name in ("at", "seen") if parse_time(stamp.get(name)) is not None]
        if when:
            out[key] = {when[0]: stamp[when[0]], "by": str(stamp.get("by", ""))}
    return out


def stamped_keys(row):
    return [key_row for key_row in row["keys"] if key_row["from"] in STAMPED_SOURCES]


def _secrets(cluster):
    return (cluster or {}).get("secrets") or {}


def _found(cluster, row, key_row):
    """``(text, stamp)`` of a stamped key as the read found it: in its own Secret, else where an older release kept
    it (``formerly_in``), else in the encrypted copy (``cluster["copy"]``, see ``_secret_plan.with_copy``: a value
    restored from it keeps the stamp the copy keeps with it); ``(None, None)`` when nowhere."""
    places = [row["name"]] + ([key_row["formerly_in"]] if key_row.get("formerly_in") else [])
    for name in places:
        state = _secrets(cluster).get(name)
        text = ((state or {}).get("text") or {}).get(key_row["key"])
        if text is not None:
            return text, read_stamps(state).get(key_row["key"])
    copy = (cluster or {}).get("copy") or {}
    text = ((copy.get("values") or {}).get(row["name"]) or {}).get(key_row["key"])
    if text is not None:
        return text, ((copy.get("stamps") or {}).get(row["name"]) or {}).get(key_row["key"])
    return None, None


def _material(text, key_row):
    """What a value is made of: its bytes for a key that may be repaired (another base64 alphabet, same bytes)."""
    if key_row.get("repair"):
        try:
            return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            pass
    return text


def age(stamp, now):
    """The report's view of one stamp: ``age_days`` (whole days; None when unknown), ``at`` or ``seen`` (then
    ``at_least_days``), ``by``."""
    if not stamp:
        return {"age_days": None}
    if "at" in stamp:
        return {"age_days": _days(stamp["at"], now), "at": stamp["at"], "by": stamp["by"]}
    return {"age_days": None, "at_least_days": _days(stamp["seen"], now), "seen": stamp["seen"], "by": stamp["by"]}


def _days(text, now):
    return max(0, int((now - parse_time(text)).total_seconds() // DAY))


def _lower_bound(stamp, now):
    """Whole days a value is at least old: its age, or the days since it was first seen; None when unknown."""
    if not stamp:
        return None
    return _days(stamp.get("at") or stamp["seen"], now)


def _managed(row, given):
    return row.get("only_without_input") not in given


def _rows_of(table, name):
    """The rows a rotation of ``name`` rotates: its own and those rotated with it."""
    return [row for row in table if row["name"] == name or rotation_owner(row) == name]


def due_for_rotation(table, cluster, max_ages, now, given=()):
    """``(due, warnings)``: ``due`` maps each Secret (a rotatable name) whose oldest generated value is past its
    maximum age to ``{age_days, max_age_days, key}`` (the oldest value's age - at least, when only first seen -, the
    limit, ``secret/key`` of that value); ``warnings`` name the values whose age is unknown, which are not rotated."""
    due, warnings = {}, []
    for name, limit in sorted((max_ages or {}).items()):
        oldest = None
        for row in _rows_of(table, name):
            if not _managed(row, given) or row["name"] not in _secrets(cluster):
                continue
            for key_row in row["keys"]:
                if key_row["from"] != "generated":
                    continue
                text, stamp = _found(cluster, row, key_row)
                if text is None:
                    continue  # drawn on this run anyway
                days = _lower_bound(stamp, now)
                where = "%s/%s" % (row["name"], key_row["key"])
                if days is None:
                    warnings.append(
                        "%s has no recorded age (made by hand or before this collection recorded ages): %s does not "
                        "rotate a value of unknown age. Its age counts from the Secret's next write (first seen), or "
                        "rotate it once now with devpi_secrets_rotate." % (where, MAX_AGE_VARIABLE)
                    )
                elif oldest is None or days > oldest[0]:
                    oldest = (days, where, "at" not in stamp)
        if oldest is not None and oldest[0] > limit:
            due[name] = {"age_days": oldest[0], "max_age_days": limit, "key": oldest[1], "at_least": oldest[2]}
    return due, warnings


def new_stamps(row, cluster, texts, now, version=COLLECTION_VERSION):
    """The stamps a Secret must carry when it is written with ``texts`` (key -> text, None: absent): a kept value
    (same text, or same bytes for a repaired one) keeps its stamp, or gets a first-seen one; a new value is stamped
    now."""
    stamps = {}
    for key_row in stamped_keys(row):
        key = key_row["key"]
        if texts.get(key) is None:
            continue
        text, stamp = _found(cluster, row, key_row)
        if text is not None and _material(text, key_row) == _material(texts[key], key_row):
            stamps[key] = stamp or {"seen": timestamp(now), "by": version}
        else:
            stamps[key] = {"at": timestamp(now), "by": version}
    return stamps


def _text_of(data_b64):
    return None if data_b64 is None else base64.b64decode(data_b64).decode("utf-8")


def _definitions(result):
    return list(result.get("writes") or []) + [item["definition"] for item in result.get("writes_after") or []]


def stamp_plan(table, cluster, result, requested, due, max_ages, now, version=COLLECTION_VERSION):
    """Put the stamps into the plan's Secret writes and the ages into its report (``result`` is changed in place).

    ``requested``: the Secrets devpi_secrets_rotate named; ``due``: ``due_for_rotation``'s. A report entry gets
    ``ages`` (per stamped key, see ``age``: of the stamps the Secret carries after the run), ``max_age_days`` when one
    applies, and for a rotated Secret ``rotation``: ``{reason: devpi_secrets_rotate}`` or ``{reason: max_age,
    age_days, max_age_days, note}``.
    """
    rows = {row["name"]: row for row in table}
    definitions = {
        d["metadata"]["name"]: d for d in _definitions(result) if d.get("kind") == "Secret" and "metadata" in d
    }
    reports = {item["name"]: item for item in result.get("report") or []}
    for entry in result.get("secrets") or []:
        row = rows.get(entry["name"])
        if row is None or not stamped_keys(row):
            continue
        if entry["action"] == "kept":
            stamps = read_stamps(_secrets(cluster).get(entry["name"]))
        else:
            texts = {key: _text_of(value) for key, value in entry["data"].items()}
            stamps = new_stamps(row, cluster, texts, now, version)
            definition = definitions.get(entry["name"])
            if definition is not None and stamps:
                definition["metadata"].setdefault("annotations", {})[ANNOTATION] = dump(stamps)
        _copy_stamps(result.get("backup"), cluster, entry["name"], stamps)
        item = reports.get(entry["name"])
        if item is None:
            continue
        item["ages"] = {key_row["key"]: age(stamps.get(key_row["key"]), now) for key_row in stamped_keys(row)
                        if entry["data"].get(key_row["key"]) is not None}  # fmt: skip
        owner = rotation_owner(row)
        if owner in (max_ages or {}):
            item["max_age_days"] = max_ages[owner]
        if entry["action"] == "rotated":
            item["rotation"] = _reason(owner, requested, due)
    backup = result.get("backup") or {}
    if backup.get("action", "off") != "off":
        held = ((cluster or {}).get("copy") or {}).get("stamps") or {}
        stamped = backup.setdefault("stamps", {})
        for name in backup.get("values") or {}:
            if name not in stamped:  # not managed on this run: the copy keeps what it held
                stamped[name] = {k: v for k, v in (held.get(name) or {}).items() if k in backup["values"][name]}


def _copy_stamps(backup, cluster, name, stamps):
    """The encrypted copy keeps the stamps of the values it keeps (``backup["stamps"]``), as the Secret carries them
    after the run; a copy that holds other stamps (or none: written before it kept them) is updated, ``why`` V(age).
    A Secret not managed on this run keeps the copy's."""
    if not backup or backup.get("action") == "off":
        return
    copy = (cluster or {}).get("copy") or {}
    held = (copy.get("stamps") or {}).get(name) or {}
    kept = {key: stamps[key] for key in (backup.get("values") or {}).get(name, {}) if stamps.get(key)}
    backup.setdefault("stamps", {})[name] = kept
    if backup.get("action") == "written":
        return
    changed = {(c["secret"], c["key"]) for c in backup.get("changes") or []}
    for key in sorted(set(kept) | set(held)):
        if (
            kept.get(key) != held.get(key)
            and (name, key) not in changed
            and key in (backup.get("values") or {}).get(name, {})
        ):
            backup.setdefault("changes", []).append({"secret": name, "key": key, "why": "age"})
            backup["action"] = "updated"


def _reason(owner, requested, due):
    if owner in (requested or ()) or owner not in (due or {}):
        return {"reason": "devpi_secrets_rotate"}
    found = due[owner]
    note = "%s was %s%d days old, past its maximum age of %d days (%s)" % (
        found["key"],
        "at least " if found["at_least"] else "",
        found["age_days"],
        found["max_age_days"],
        MAX_AGE_VARIABLE,
    )
    return {"reason": "max_age", "age_days": found["age_days"], "max_age_days": found["max_age_days"], "note": note}


def max_age_problems(value, rotatable):
    """``(max_ages, problems)``: devpi_secrets_max_age_days as ``{name: days}`` - names among ``rotatable``, days
    whole and positive (a string of digits counts, as ``-e name=value`` gives one) - and what is wrong with it,
    naming the variable; ``{}`` when anything is."""
    if value in (None, ""):
        return {}, []
    if not isinstance(value, dict):
        return {}, ["%s must be a mapping of Secret names to days." % MAX_AGE_VARIABLE]
    problems, out = [], {}
    for name, days in value.items():
        if name not in rotatable:
            problems.append(
                "%s names %r: only %s hold generated values that can rotate (the generated basic-auth password is "
                "devpi-basic-auth's)." % (MAX_AGE_VARIABLE, str(name), ", ".join(rotatable))
            )
            continue
        number = days
        if isinstance(days, str) and days.strip().isdigit():
            number = int(days)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            problems.append("%s gives %s no positive whole number of days." % (MAX_AGE_VARIABLE, name))
            continue
        out[name] = number
    return ({} if problems else out), problems
