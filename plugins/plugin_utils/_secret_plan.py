# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Decide what every Secret must hold and which writes get it there (pure functions, no Ansible imports).

Inputs, all produced by earlier steps of the role:

* ``table``: the role's description of each Secret (``vars/main.yml``). Per row: ``name``, ``type``, ``rotatable``,
  ``rotated_with`` (rotated when that Secret is), ``only_without_input`` (the Secret is managed only while that
  input is not given). Per key, ``from`` says where its value comes from: ``input`` (user-supplied, authoritative;
  ``public`` when it is no secret), ``generated`` (a ``random_b64`` result, kept unless rotated; ``formerly_in``: the
  Secret an older release kept it in), ``htpasswd`` (the ``htpasswd_bcrypt`` line of the basic-auth user) or
  ``moved`` (the key must go: its value now lives in Secret ``moves_to``);
* ``cluster``: what the ``cluster_state`` lookup read;
* ``supplied``: the user-supplied values by input name (an input that was not given is absent or None);
* ``random``: the registered results of the ``random_b64`` loop over ``table | subelements('keys')`` (each item is a
  pair: the Secret's row and the key's row);
* ``htpasswd``: the registered result of ``htpasswd_bcrypt``;
* ``copy`` (optional): the encrypted copy as the ``backup_read`` lookup read it (``enabled``, ``exists``,
  ``values``: ``{secret: {key: text}}``). A generated value (and the htpasswd line of a generated password) that the
  cluster lacks is taken from it instead of being drawn (action ``restored``); where both hold one, the cluster's
  wins. ``with_copy`` puts it into ``cluster`` under ``copy``, where every read of a stored value looks after the
  cluster's own.

The plan says, per Secret, one action - ``created``, ``restored`` (created or completed with values from the copy),
``kept``, ``updated``, ``rotated``, ``repaired``, ``replaced`` (wrong immutable type: delete, then create) or
``unused`` (not managed on this run, left as it is) -
and lists the writes in the order they must happen: ``writes`` first, then ``writes_after``, each of which waits
for the Secret a moved key goes to (so that a value is never dropped before it is stored elsewhere).
"""

from __future__ import annotations

import base64
import binascii

from ansible_collections.theedgeworks.devpi.plugins.module_utils.b64secret import repair, validate_b64
from ansible_collections.theedgeworks.devpi.plugins.module_utils.fingerprint import fingerprint
from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import (
    assemble,
    parse_bcrypt,
    parse_htpasswd,
    verify,
)
from ansible_collections.theedgeworks.devpi.plugins.module_utils.rules import MAX_COST, MIN_COST, role_password_problem

MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER = "theedgeworks.devpi"

# A uid no object has: kubernetes.core.k8s patches an object it finds, so a create that finds a Secret another run
# made after our read must fail rather than patch it. The API server ignores metadata.uid on create and refuses a
# patch that changes it (uid is immutable).
CREATE_GUARD_UID = "00000000-0000-0000-0000-00000000dead"


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def loop_item(result):
    """The item of one result of a registered loop, whatever the task's ``loop_var`` (the role names its own, so
    that a play can include it in a loop over ``item``)."""
    return result.get(result.get("ansible_loop_var") or "item")


def _item_names(result):
    """``(secret, key)`` of a loop result whose item is ``[secret_row, key_row]``."""
    item = loop_item(result) or [{}, {}]
    return item[0].get("name"), item[1].get("key")


def _text(cluster, secret, key):
    return ((((cluster or {}).get("secrets") or {}).get(secret) or {}).get("text") or {}).get(key)


def _copied(cluster, secret, key):
    """The text the encrypted copy (see with_copy) holds for a key, or None."""
    return ((((cluster or {}).get("copy") or {}).get("values") or {}).get(secret) or {}).get(key)


def stored_text(cluster, secret, key):
    """The text a key holds in the cluster, else in the encrypted copy: the cluster wins where both hold one."""
    value = _text(cluster, secret, key)
    return _copied(cluster, secret, key) if value is None else value


def with_copy(cluster, copy):
    """``cluster`` with the encrypted copy under ``copy`` (nothing when the copy is off), read by ``stored_text``."""
    out = dict(cluster or {})
    out["copy"] = copy if (copy or {}).get("enabled") else {}
    return out


def _stored(cluster, row, key_row, copy=True):
    """The text a generated key holds in the cluster, in its own Secret or where an older release kept it, else (with
    ``copy``) in the encrypted copy."""
    value = _text(cluster, row["name"], key_row["key"])
    if value is None and key_row.get("formerly_in"):
        value = _text(cluster, key_row["formerly_in"], key_row["key"])
    if value is None and copy:
        value = _copied(cluster, row["name"], key_row["key"])
    return value


def _password_works(password, cluster, user, hashed_in):
    """A stored password is kept while it follows the password rules and verifies against the stored bcrypt hash of
    ``user`` in Secret ``hashed_in``. Its form is irrelevant. Where no hash of ``user`` can be verified (none stored,
    not bcrypt, a cost outside 4-17), nothing contradicts it: it is kept and htpasswd_bcrypt hashes it anew."""
    if role_password_problem(password, user) is not None:
        return False
    hashes = [h for name, h in parse_htpasswd(stored_text(cluster, hashed_in, "auth") or "") if name == user]
    usable = [h for h in hashes if (parse_bcrypt(h) or ("", 0))[1] in range(MIN_COST, MAX_COST + 1)]
    return not usable or verify(password, usable[-1])


def stored_values(table, cluster, user=None):
    """``{secret: {key: {current, keep, present}}}`` for every generated key.

    ``current`` is what may be handed to ``random_b64`` as its (no_log) ``current``: a value that the key's rule can
    keep or repair, else ``None``. A value that is neither is never handed to Ansible as a secret: Ansible masks every
    occurrence of a no_log value in all output, and a stored ``a`` would make every new draw look masked. ``keep``:
    a password (``password_of``) that works, kept whatever its form (``random_b64`` with ``regenerate=never``).
    ``present``: the cluster held a value, valid or not (replacing it is warned about).
    """
    out = {}
    for row in table:
        for key_row in row["keys"]:
            if key_row["from"] != "generated":
                continue
            value = _stored(cluster, row, key_row)
            keep = False
            if value is None:
                current = None
            elif key_row.get("password_of"):
                keep = _password_works(value, cluster, user, key_row["password_of"])
                current = value if keep else None
            elif validate_b64(value, key_row["num_bytes"], key_row["alphabet"]) or (
                key_row.get("repair") and repair(value, key_row["num_bytes"], key_row["alphabet"]) is not None
            ):
                current = value
            else:
                current = None
            out.setdefault(row["name"], {})[key_row["key"]] = {
                "current": current,
                "keep": keep,
                "present": value is not None,
            }
    return out


def rotation_owner(row):
    """The Secret whose rotation (and maximum age) covers table row ``row``: itself when it is rotatable, else the one
    it is rotated with (``rotated_with``; '' when none). The one rule of ``rotated_with``."""
    return row["name"] if row.get("rotatable") else row.get("rotated_with", "")


def rotating(row, rotate):
    """Whether the Secret of table row ``row`` is rotated on this run: named in ``rotate`` (the checked
    devpi_secrets_rotate, ``all`` already expanded), or rotated with a Secret that is (``rotated_with``)."""
    return row["name"] in rotate or rotation_owner(row) in rotate


def draw_args(table, cluster, user=None, rotate=()):
    """``{secret: {key: {current, regenerate}}}``: the ``current`` (absent: ``None``) and ``regenerate`` arguments of
    ``random_b64`` for every generated key. ``always`` when the Secret rotates; ``never`` for a password that works
    (kept whatever its form, see stored_values); else ``full_idempotence`` (keep a valid value, repair or draw)."""
    out = {}
    for row in table:
        for key, stored in stored_values([row], cluster, user).get(row["name"], {}).items():
            if rotating(row, rotate or ()):
                mode = "always"
            elif stored["keep"]:
                mode = "never"
            else:
                mode = "full_idempotence"
            out.setdefault(row["name"], {})[key] = {"current": stored["current"], "regenerate": mode}
    return out


def current_values(table, cluster, user=None):
    """``{secret: {key: value}}``: the value each generated key holds now that may be kept (see stored_values)."""
    out = {}
    for secret, keys in stored_values(table, cluster, user).items():
        for key, stored in keys.items():
            if stored["current"] is not None:
                out.setdefault(secret, {})[key] = stored["current"]
    return out


def generated_values(random, cluster, table, user=None):
    """``{secret: {key: value}}`` of the generated keys: the new value when one was drawn or repaired, else the current.

    ``random`` is the registered result of the role's ``random_b64`` loop; ``cluster`` the ``cluster_state`` result.
    Skipped items are left out (a Secret not managed on this run), but for a password that works: its current value.
    """
    current = current_values(table, cluster, user)
    kept = stored_values(table, cluster, user)
    out = {}
    for result in (random or {}).get("results", []):
        secret, key = _item_names(result)
        if secret is None:
            continue
        if result.get("skipped"):
            # A password that works is not handed to random_b64 at all (draw_args says `never`): kept as it is.
            if kept.get(secret, {}).get(key, {}).get("keep"):
                out.setdefault(secret, {})[key] = current[secret][key]
            continue
        value = result.get("value")
        if value is None:
            value = current.get(secret, {}).get(key)
        out.setdefault(secret, {})[key] = value
    return out


def _random_flags(random):
    flags = {}
    for result in (random or {}).get("results", []):
        flags[_item_names(result)] = result
    return flags


def htpasswd_content(result, current):
    """The htpasswd file from an ``htpasswd_bcrypt`` result and the ``current`` content it was given.

    Kept lines come from ``current`` (the module never returns them); new ones from ``result.lines``. When every user
    is kept, ``current`` is returned as it is: a layout-only difference (such as the blank line ``htpasswd -n``
    prints) does not justify a write.
    """
    actions = [user.get("action") for user in result.get("users", [])]
    if current and actions and all(action == "kept" for action in actions):
        return current
    return assemble(current or "", result.get("order", []), result.get("lines", {}))


def _wanted_text(spec, key_spec, cluster, supplied, generated, htpasswd):
    """Text a key must hold, or ``None`` when the key must not be there."""
    source = key_spec["from"]
    if source == "input":
        return supplied.get(key_spec["input"])
    if source == "generated":
        return generated.get(spec["name"], {}).get(key_spec["key"])
    if source == "htpasswd":
        return htpasswd_content(htpasswd or {}, stored_text(cluster, spec["name"], key_spec["key"]) or "")
    if source == "moved":
        return None
    raise ValueError("unknown source %r for %s/%s" % (source, spec["name"], key_spec["key"]))


def _differs(data, current_data):
    for key, value in data.items():
        if value is None:
            if key in current_data:
                return True
        elif current_data.get(key) != value:
            return True
    return False


def _secret_definition(namespace, entry, create):
    metadata = {"name": entry["name"], "namespace": namespace, "labels": entry["labels"]}
    data = entry["data"]
    if create:
        metadata["uid"] = CREATE_GUARD_UID
        data = {key: value for key, value in data.items() if value is not None}
    else:
        # Updates carry the resourceVersion read: a Secret changed since gets 409 Conflict and is not written.
        metadata["resourceVersion"] = entry["resource_version"]
    return {"apiVersion": "v1", "kind": "Secret", "type": entry["type"], "metadata": metadata, "data": data}


def given_inputs(supplied):
    """The names of the inputs that were given: the supplied values present and not None (read.yml leaves out an
    input check_inputs found not given). The one rule for "a password was given"."""
    return {name for name, value in (supplied or {}).items() if value is not None}


def secret_plan(
    table,
    cluster,
    supplied,
    random,
    htpasswd,
    labels,
    rotate,
    namespace,
    base_labels=None,
    with_diff=False,
    adopt=(),
    replace_wrong_type=False,
):
    """The plan: ``secrets`` (one entry per managed row), ``changes`` (anything to write or delete), ``writes``,
    ``writes_after``, ``deletes``, ``problems`` (what must stop the run before any write: a Secret of the wrong type
    not to be replaced, one the role does not own), ``notes`` (the warnings the role reports at the end, value-free;
    not ``warnings``, which in a task result are Ansible's own), ``report``."""
    cluster = cluster or {}
    current_secrets = cluster.get("secrets") or {}
    user = (supplied or {}).get("basic_auth_user")
    generated = generated_values(random, cluster, table, user)
    stored = stored_values(table, cluster, user)
    flags = _random_flags(random)
    given = given_inputs(supplied)
    all_labels = dict(base_labels or {})
    all_labels.update(labels or {})
    rotate = list(rotate or [])

    secrets, warnings, unused = [], [], []
    for spec in table:
        name = spec["name"]
        current = current_secrets.get(name)
        if spec.get("only_without_input") in given:
            if current is not None:
                note = (
                    "holds a password generated before devpi_secrets_basic_auth_password was set; the role no longer "
                    "writes it: delete it once no client reads it"
                )
                unused.append({"name": name, "action": "unused", "type": current["type"], "keys": [], "note": note})
                warnings.append("Secret %s/%s %s." % (namespace, name, note))
            continue
        rotates = rotating(spec, rotate)
        texts = {}
        for key_spec in spec["keys"]:
            texts[key_spec["key"]] = _wanted_text(spec, key_spec, cluster, supplied, generated, htpasswd)
        data = {key: (None if text is None else _b64(text)) for key, text in texts.items()}
        current_data = (current or {}).get("data") or {}
        entry = {
            "name": name,
            "type": spec["type"],
            "labels": dict(all_labels),
            "data": data,
            "resource_version": (current or {}).get("resource_version", ""),
            "uid": (current or {}).get("uid", ""),
            "current_type": (current or {}).get("type", ""),
            "before": {key: current_data[key] for key in data if key in current_data},
            "public": [k["key"] for k in spec["keys"] if k.get("public")],
            "moved": [
                (k["key"], k["moves_to"]) for k in spec["keys"] if k["from"] == "moved" and k["key"] in current_data
            ],
        }
        if with_diff:
            entry["changed_keys"] = {
                key_spec["key"]: _key_diff(key_spec, entry["before"].get(key_spec["key"]), texts[key_spec["key"]],
                                           flags.get((name, key_spec["key"]), {}))
                for key_spec in spec["keys"]
                if entry["before"].get(key_spec["key"]) != data[key_spec["key"]]
            }  # fmt: skip
        repaired = [k["key"] for k in spec["keys"] if flags.get((name, k["key"]), {}).get("repaired")]
        restored = _restored_keys(spec, cluster, texts)
        if current is None:
            entry["action"] = "restored" if restored else "created"
        elif current["type"] != spec["type"]:
            entry["action"] = "replaced"
        elif _differs(data, current_data):
            if rotates or repaired:
                entry["action"] = "rotated" if rotates else "repaired"
            else:
                entry["action"] = "restored" if restored else "updated"
        elif any((current.get("labels") or {}).get(k) != v for k, v in all_labels.items()):
            entry["action"] = "updated"
        else:
            entry["action"] = "kept"
        secrets.append(entry)

        if not rotates:
            for key_spec in spec["keys"]:
                result = flags.get((name, key_spec["key"]), {})
                if result.get("repaired"):
                    warnings.append(
                        "%s/%s was standard base64 (with '+' or '/'), which oauth2-proxy refuses; it was rewritten in "
                        "URL-safe base64 with the same bytes, so existing sessions stay valid."
                        % (name, key_spec["key"])
                    )
                elif (
                    result.get("generated")
                    and key_spec.get("on_regenerate")
                    and stored.get(name, {}).get(key_spec["key"], {}).get("present")
                ):
                    valid = key_spec.get("valid") or "base64 of %d bytes" % key_spec["num_bytes"]
                    warnings.append(
                        "the current value of %s/%s was not %s and was regenerated: %s."
                        % (name, key_spec["key"], valid, key_spec["on_regenerate"])
                    )

    # A Secret that still holds a moved key waits for the Secret the key moves to, when that one is written now.
    written_now = {entry["name"] for entry in secrets if entry["action"] != "kept"}
    for entry in secrets:
        waits = sorted({to for _key, to in entry["moved"] if to in written_now})
        entry["waits_for"] = waits[0] if waits else ""

    problems = _problems(table, secrets, current_secrets, namespace, adopt, replace_wrong_type)
    writes, writes_after, deletes = [], [], []
    if not (cluster.get("namespace") or {}).get("exists"):
        writes.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": dict(all_labels)}}
        )
    for entry in secrets:
        if entry["action"] == "replaced":
            deletes.append({"name": entry["name"], "uid": entry["uid"], "resource_version": entry["resource_version"]})
        if entry["action"] == "kept":
            continue
        # A create whenever the Secret is not there (created, restored) or goes first (replaced): only a create
        # carries the guard uid and leaves out the keys that must not be there.
        create = entry["action"] == "replaced" or not entry["resource_version"]
        definition = _secret_definition(namespace, entry, create=create)
        if entry["waits_for"]:
            writes_after.append({"after": entry["waits_for"], "definition": definition})
        else:
            writes.append(definition)
    return {
        "secrets": secrets,
        "backup": copy_plan(table, cluster, secrets, given, rotate),
        "changes": bool(writes or writes_after or deletes),
        "writes": writes,
        "writes_after": writes_after,
        "deletes": deletes,
        "problems": problems,
        "notes": warnings,
        "report": [_report_entry(entry, with_diff) for entry in secrets] + unused,
    }


def _kept_in_copy(key_spec, given):
    """Whether the encrypted copy keeps a key: every generated value, and the htpasswd line while the password it
    hashes is generated (``copy_only_without_input``): nothing derived from a value the user supplies."""
    if key_spec["from"] == "generated":
        return True
    return key_spec["from"] == "htpasswd" and key_spec.get("copy_only_without_input") not in given


def _restored_keys(spec, cluster, texts):
    """The keys of a Secret whose value comes from the encrypted copy: the cluster held none (nor did an older
    release's place for it) and the value is the copy's."""
    restored = []
    for key_spec in spec["keys"]:
        if key_spec["from"] not in ("generated", "htpasswd"):
            continue
        copied = _copied(cluster, spec["name"], key_spec["key"])
        if copied is None or texts.get(key_spec["key"]) != copied:
            continue
        if key_spec["from"] == "generated":
            in_cluster = _stored(cluster, spec, key_spec, copy=False)
        else:
            in_cluster = _text(cluster, spec["name"], key_spec["key"])
        if in_cluster is None:
            restored.append(key_spec["key"])
    return restored


def copy_plan(table, cluster, secrets, given, rotate):
    """What the encrypted copy must hold after this run, and why it changes (value-free but for ``values``).

    ``values``: ``{secret: {key: text}}`` - the generated values (and the htpasswd line of a generated password) of
    every Secret managed on this run, as the plan leaves them; a Secret not managed on this run (the client Secret of
    a given password) keeps what the copy held. ``action``: ``off`` (no copy), ``written`` (no copy existed),
    ``unchanged`` or ``updated``; ``changes``: per changed value ``{secret, key, why}``, ``why`` one of ``new`` (the
    copy lacked it), ``rotated``, ``cluster`` (the cluster held another value: the cluster wins) or ``generated``
    (drawn again: the stored value was invalid). ``types``: each Secret's type, for the manifests."""
    copy = (cluster or {}).get("copy") or {}
    if not copy.get("enabled"):
        return {"action": "off", "changes": [], "values": {}, "types": {}}
    held = copy.get("values") or {}
    rows = {row["name"]: row for row in table}
    managed = {entry["name"]: entry for entry in secrets}
    values, changed = {}, []
    for row in table:
        name = row["name"]
        if name not in managed:
            if held.get(name):
                values[name] = dict(held[name])
            continue
        data = managed[name]["data"]
        for key_spec in row["keys"]:
            if not _kept_in_copy(key_spec, given) or data.get(key_spec["key"]) is None:
                continue
            key = key_spec["key"]
            value = base64.b64decode(data[key]).decode("utf-8")
            values.setdefault(name, {})[key] = value
            before = (held.get(name) or {}).get(key)
            if before == value:
                continue
            if before is None:
                why = "new"
            elif rotating(row, rotate or ()):
                why = "rotated"
            elif _text(cluster, name, key) == value or _stored(cluster, row, key_spec, copy=False) == value:
                why = "cluster"
            else:
                why = "generated"
            changed.append({"secret": name, "key": key, "why": why})
    if not copy.get("exists"):
        action = "written"
    else:
        dropped = any(key not in values.get(name, {}) for name, keys in held.items() for key in keys)
        action = "updated" if changed or dropped else "unchanged"
    types = {name: rows[name]["type"] for name in rows if name in values}
    return {"action": action, "changes": changed, "values": values, "types": types}


def _problems(table, secrets, current_secrets, namespace, adopt, replace_wrong_type):
    """Value-free sentences that stop the run before any write: a Secret of the wrong (immutable) type that may not be
    replaced, and a Secret the role would write but does not own - one without the label
    ``app.kubernetes.io/managed-by=theedgeworks.devpi``, under a name the seed does not define (the seed's recipe made
    its four Secrets without labels: those are taken over), that the user did not name in ``devpi_secrets_adopt``."""
    problems = []
    wrong_type = [entry for entry in secrets if entry["action"] == "replaced"]
    if wrong_type and not replace_wrong_type:
        problems.append(
            "%s. A Secret's type cannot be changed in place: set devpi_secrets_replace_wrong_type=true to delete "
            "it and create it again (pods that mount it see it vanish briefly)."
            % ". ".join(
                "Secret %s/%s has type '%s', not '%s'" % (namespace, e["name"], e["current_type"], e["type"])
                for e in wrong_type
            )
        )
    for name in not_owned(table, secrets, current_secrets, adopt):
        problems.append(
            "Secret %s/%s exists without the label %s=%s: this role does not overwrite a Secret it does not own. "
            "Add its name to devpi_secrets_adopt to have the role take it over, or choose another name "
            "(devpi_secrets_basic_auth_client_name)." % (namespace, name, MANAGED_BY, OWNER)
        )
    return problems


def not_owned(table, secrets, current_secrets, adopt=()):
    """The Secrets the plan would write that the role does not own (see ``_problems``), by name."""
    seed = {row["name"] for row in table if row.get("seed")}
    names = []
    for entry in secrets:
        current = current_secrets.get(entry["name"])
        if current is None or entry["action"] == "kept" or entry["name"] in seed or entry["name"] in (adopt or ()):
            continue
        if (current.get("labels") or {}).get(MANAGED_BY) != OWNER:
            names.append(entry["name"])
    return names


def _certificate_fingerprint(pem):
    """``certificate sha256:<64 hex>`` of the first certificate of a PEM text (public, as openssl shows it)."""
    lines = pem.splitlines()
    try:
        first = lines.index("-----BEGIN CERTIFICATE-----")
        last = lines.index("-----END CERTIFICATE-----", first)
        der = base64.b64decode("".join(lines[first + 1 : last]), validate=True)
    except (ValueError, binascii.Error):
        return "changed"
    return "certificate " + fingerprint(der, 64)


def _key_diff(key_spec, before_b64, after_text, random_result):
    """``{before, after}`` of a changed key, never derived from a value a person chose or one found in the cluster.

    A fingerprint is shown only of a value generated on this run (>= 16 random bytes, as random_b64 says by
    returning one) and of a certificate (public).
    """
    if key_spec.get("certificate"):
        before_text = base64.b64decode(before_b64).decode("utf-8", "replace") if before_b64 else None
        before = _certificate_fingerprint(before_text) if before_text else "absent"
        return {"before": before, "after": _certificate_fingerprint(after_text) if after_text else "absent"}
    before = "absent" if before_b64 is None else "present"
    if after_text is None:
        after = "absent"
    elif random_result.get("generated") and random_result.get("fingerprint"):
        after = fingerprint(after_text) + " (generated)"
    else:
        after = "changed"
    return {"before": before, "after": after}


def _report_entry(entry, with_diff):
    """Names, actions and keys (and with diff, the changed keys, see _key_diff), never a value."""
    item = {
        "name": entry["name"],
        "action": entry["action"],
        "type": entry["type"],
        "keys": sorted(key for key, value in entry["data"].items() if value is not None),
    }
    if entry["moved"]:
        item["note"] = "; ".join("%s moved to %s" % pair for pair in entry["moved"])
    if with_diff:
        item["changed_keys"] = entry["changed_keys"]
    return item
