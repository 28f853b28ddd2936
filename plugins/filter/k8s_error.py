# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: k8s_error
short_description: A short, value-free message from a failed kubernetes.core task result
version_added: 1.0.0
description:
  - Takes the registered result of a failed C(kubernetes.core) task and returns one line for a human.
  - When the result holds a Kubernetes C(Status) object (as API errors do), only its code, reason and message are
    kept; anything else (request bodies, tracebacks) is dropped. Other messages are cut to 300 characters.
  - Meant for tasks that run with C(no_log) because they carry Secret data, so that their failure can still be
    reported without printing that data.
options:
  _input:
    description: A registered task result.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report a failed write without its data
  ansible.builtin.fail:
    msg: "Cannot write the Secret: {{ _result | theedgeworks.devpi.k8s_error }}"
  when: _result is failed
"""

RETURN = r"""
_value:
  description: "C(HTTP <code> <reason>: <message>) for API errors, else the task's message, shortened."
  type: str
"""

import json
import re

_STATUS_START = re.compile(r'\{\s*"kind"\s*:\s*"Status"')


def _status_from(text):
    """The first Kubernetes Status object in `text`, also when it is inside a bytes repr (escaped quotes)."""
    for candidate in (text, text.encode("utf-8", "replace").decode("unicode_escape", "replace")):
        for match in _STATUS_START.finditer(candidate):
            try:
                status, _end = json.JSONDecoder().raw_decode(candidate[match.start() :])
            except ValueError:
                continue
            if isinstance(status, dict):
                return status
    return None


def k8s_error(result, limit=300):
    """Return a one-line, value-free description of a failed kubernetes.core result."""
    if not isinstance(result, dict):
        return "unknown error"
    msg = result.get("msg") or result.get("error")
    if not msg:
        return "no answer from the Kubernetes API (connection refused, timeout, TLS or kubeconfig problem)"
    msg = str(msg)
    status = _status_from(msg)
    if status is not None:
        return "HTTP {0} {1}: {2}".format(status.get("code", "?"), status.get("reason", ""), status.get("message", ""))
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def k8s_conflict(result):
    """True when a failed kubernetes.core result is an HTTP 409 Conflict."""
    if not isinstance(result, dict):
        return False
    status = _status_from(str(result.get("msg") or ""))
    return status is not None and status.get("code") == 409


def _lost_create_race(result):
    """A create that found the Secret made by someone else after our read (see the role's write.yml)."""
    if result.get("failed"):
        text = str(result.get("msg") or "")
        return "metadata.uid" in text and "immutable" in text
    return result.get("method") == "create" and not result.get("result")


def k8s_raced(results):
    """Loop results of a create task whose Secret another run created first."""
    return [r for r in results if isinstance(r, dict) and not r.get("skipped") and _lost_create_race(r)]


def k8s_failures(results, verb):
    """Value-free descriptions of the failed items of a looped kubernetes.core task."""
    out = []
    for r in results:
        if not isinstance(r, dict) or not r.get("failed") or (verb == "create" and _lost_create_race(r)):
            continue
        item = r.get("item") or {}
        out.append(
            {
                "name": item.get("name", "?") if isinstance(item, dict) else str(item),
                "verb": verb,
                "error": k8s_error(r),
                "conflict": k8s_conflict(r),
            }
        )
    return out


class FilterModule(object):
    def filters(self):
        return {
            "k8s_error": k8s_error,
            "k8s_conflict": k8s_conflict,
            "k8s_raced": k8s_raced,
            "k8s_failures": k8s_failures,
        }
