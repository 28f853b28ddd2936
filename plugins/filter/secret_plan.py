# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: secret_plan
short_description: Decide which Secrets to create, keep or update, from what the cluster holds and what is wanted
version_added: 1.0.0
description:
  - Compares the wanted C(type), C(data) and labels of each Secret with the Secret read from the cluster and returns
    one entry per Secret with the action to take.
  - The result carries Secret data. Use it only in tasks with C(no_log), and report it with
    P(theedgeworks.devpi.secret_summary#filter), which keeps names, keys and fingerprints only.
options:
  _input:
    description: Wanted Secrets, name to C({type, data, labels, hint}). C(data) maps keys to base64 values;
      a key with value V(null) is removed when present. C(hint) names the action of a changed Secret
      (C(rotated), C(repaired)); the default is C(updated).
    type: dict
    required: true
  current:
    description: Secrets read from the cluster, name to the object as returned by C(kubernetes.core.k8s_info).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Plan the writes
  ansible.builtin.set_fact:
    _plan: "{{ wanted | theedgeworks.devpi.secret_plan(current) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description:
    - One entry per wanted Secret, in the input's order, with C(name), C(action) (V(created), V(kept), V(updated),
      V(rotated), V(repaired) or V(replaced) for a wrong type), C(type), C(data), C(labels), C(resource_version) of the
      current object (empty when absent), C(current_type) and C(before) (the current data of the wanted keys).
  type: list
  elements: dict
"""

import base64
import binascii
import hashlib

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import assemble


def _wanted_data_differs(data, current_data):
    for key, value in data.items():
        if value is None:
            if key in current_data:
                return True
        elif current_data.get(key) != value:
            return True
    return False


def secret_plan(wanted, current):
    plan = []
    for name, want in wanted.items():
        obj = current.get(name) or {}
        meta = obj.get("metadata") or {}
        current_data = obj.get("data") or {}
        current_labels = meta.get("labels") or {}
        labels = dict(want.get("labels") or {})
        entry = {
            "name": name,
            "type": want["type"],
            "data": dict(want["data"]),
            "labels": labels,
            "resource_version": meta.get("resourceVersion", ""),
            "current_type": obj.get("type", "") if obj else "",
            "before": dict((k, current_data[k]) for k in want["data"] if k in current_data),
        }
        if not obj:
            entry["action"] = "created"
        elif obj.get("type", "Opaque") != want["type"]:
            entry["action"] = "replaced"
        elif _wanted_data_differs(want["data"], current_data):
            entry["action"] = want.get("hint") or "updated"
        elif any(current_labels.get(k) != v for k, v in labels.items()):
            entry["action"] = "updated"
        else:
            entry["action"] = "kept"
        plan.append(entry)
    return plan


def _fingerprint(value):
    if value is None:
        return "(absent)"
    return "sha256:%s (%d base64 chars)" % (hashlib.sha256(value.encode("utf-8")).hexdigest()[:12], len(value))


def secret_summary(plan, with_fingerprints=False):
    """Names, actions and keys of a plan (and fingerprints if asked), never a value."""
    out = []
    for entry in plan:
        item = {
            "name": entry["name"],
            "action": entry["action"],
            "type": entry["type"],
            "keys": sorted(k for k, v in entry["data"].items() if v is not None),
        }
        if with_fingerprints:
            changed = {}
            for key, value in entry["data"].items():
                before = entry.get("before", {}).get(key)
                if before != value:
                    changed[key] = {"before": _fingerprint(before), "after": _fingerprint(value)}
            item["changed_keys"] = changed
        out.append(item)
    return out


def b64decode_values(data):
    """Decode every base64 value of a Secret's data to text (undecodable bytes become U+FFFD)."""
    out = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError, TypeError):
            out[key] = ""
    return out


def htpasswd_content(result, current):
    """Assemble htpasswd content from an htpasswd_bcrypt result and the current content it was given.

    Kept lines come from ``current`` (the module never returns them); new ones from ``result.lines``. When every user
    is kept, ``current`` is returned as it is: a layout-only difference (such as the blank line ``htpasswd -n``
    prints) does not justify a write. The result does not depend on the task's ``changed``, which the role overrides.
    """
    actions = [user.get("action") for user in result.get("users", [])]
    if current and actions and all(action == "kept" for action in actions):
        return current
    return assemble(current or "", result.get("order", []), result.get("lines", {}))


def mark_raced(summary, raced):
    """Turn the action of Secrets that another run created first into `kept`."""
    out = []
    for item in summary:
        item = dict(item)
        if item["name"] in raced:
            item["action"] = "kept"
            item["note"] = "created by a concurrent run"
        out.append(item)
    return out


class FilterModule(object):
    def filters(self):
        return {
            "secret_plan": secret_plan,
            "secret_summary": secret_summary,
            "b64decode_values": b64decode_values,
            "htpasswd_content": htpasswd_content,
            "mark_raced": mark_raced,
        }
