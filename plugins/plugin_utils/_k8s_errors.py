# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The text of a Kubernetes API error, in one place: ``HTTP <code> <reason>: <message>`` from its Status object.

Used for the read (an exception of the ``kubernetes`` client, ``lookup/cluster_state.py``) and for the writes (the
text ``kubernetes.core.k8s`` registers, ``_write_outcome.py``). No Ansible imports.
"""

from __future__ import annotations

import json
import re

MAX_ERROR = 400
_STATUS_START = re.compile(r'\{\s*"kind"\s*:\s*"Status"')


def status_line(status):
    """``HTTP <code> <reason>: <message>`` of a Kubernetes Status object."""
    return "HTTP %s %s: %s" % (status.get("code", "?"), status.get("reason", ""), status.get("message", ""))


def status_in_text(text):
    """The first Kubernetes Status object in ``text``, also when it is inside a bytes repr (escaped quotes)."""
    for candidate in (text, text.encode("utf-8", "replace").decode("unicode_escape", "replace")):
        for match in _STATUS_START.finditer(candidate):
            try:
                status, _end = json.JSONDecoder().raw_decode(candidate[match.start() :])
            except ValueError:
                continue
            if isinstance(status, dict):
                return status
    return None


def exception_text(exc):
    """One line for a human: the Status of an API exception (its ``body``) when there is one, else its text."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            status = json.loads(body)
        except ValueError:
            status = None
        if isinstance(status, dict) and status.get("kind") == "Status":
            return status_line(status)
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
