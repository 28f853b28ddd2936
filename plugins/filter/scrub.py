# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: scrub
short_description: Make a text from outside safe to print - known secrets out, in every form, and length capped
version_added: 2.0.0
description:
  - Replaces every value of O(secrets) in O(_input) - as given, in standard and URL-safe base64 with and without
    padding, and each long line of a multi-line value such as a PEM key - by C(<redacted>), puts the text on one line
    and cuts it to O(limit) characters. For error messages of an API server, Keycloak or a library, which may quote
    what they were sent. The logic is C(plugins/plugin_utils/_scrub.py).
options:
  _input:
    description: The text.
    type: str
    required: true
  secrets:
    description: The values to remove (empty ones are ignored).
    type: list
    elements: str
    required: true
  limit:
    description: Maximum length.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Report a failure without the secrets it may quote
  ansible.builtin.fail:
    msg: "Keycloak refused: {{ result.msg | theedgeworks.devpi.scrub([keycloak_password]) }}"
  when: result is failed
"""

RETURN = r"""
_value:
  description: The scrubbed text.
  type: str
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import LIMIT, scrub


def _scrub(text, secrets, limit=LIMIT):
    return scrub(text, [s for s in secrets or [] if s], limit)


class FilterModule:
    def filters(self):
        return {"scrub": _scrub}
