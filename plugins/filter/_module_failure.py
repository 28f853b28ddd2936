# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _module_failure
short_description: "[INTERNAL] The scrubbed message of a failed module run, or an empty string"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - "ansible-core 2.19 and later print the failure text of a failing C(no_log) task, which may quote what the task sent
    (an admission policy, Keycloak, a library). The role therefore registers its C(no_log) tasks with
    C(failed_when: false) and fails in the next task, without C(no_log), with this filter's text."
  - "C(failed_when: false) makes C(failed) false, so the failure is recognised by the shape of the result (one rule for
    every module the role uses; C(plugins/plugin_utils/_write_outcome.py), C(failed)). The text is scrubbed of
    O(secrets) in every form and capped (C(plugins/plugin_utils/_scrub.py))."
options:
  _input:
    description: The registered result (of one run, or of a loop).
    type: dict
    required: true
  module:
    description:
      - The module the task ran, one of C(kubernetes.core.k8s), C(community.general.keycloak_client),
        C(theedgeworks.devpi.random_b64), C(theedgeworks.devpi.htpasswd_bcrypt).
    type: str
    required: true
  secrets:
    description: Values to remove from the message (empty ones are ignored).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Stop when Keycloak refused the write
  ansible.builtin.fail:
    msg: "Keycloak refused: {{ _refusal }}"
  when: _refusal | length > 0
  vars:
    _refusal: "{{ _written | theedgeworks.devpi._module_failure('community.general.keycloak_client', [password]) }}"
"""

RETURN = r"""
_value:
  description: Empty when the run did not fail (or was skipped); else its message, scrubbed and capped, never empty.
  type: str
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import failure_text


def _module_failure(result, module, secrets=()):
    return failure_text(result, module, [s for s in secrets or [] if s])


class FilterModule:
    def filters(self):
        return {"_module_failure": _module_failure}
