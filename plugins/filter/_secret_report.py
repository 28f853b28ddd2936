# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _secret_report
short_description: "[INTERNAL] What the devpi_secrets role did to each Secret, without any value"
version_added: 2.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Combines the plan of M(theedgeworks.devpi._plan) with the registered result of the
    C(kubernetes.core.k8s) task that sent its C(writes) (one definition list, C(continue_on_error)), and says per
    Secret what happened. The logic is C(plugins/plugin_utils/_write_outcome.py).
  - Safe to print - names, actions, keys, value-free error messages.
options:
  _input:
    description: The plan.
    type: dict
    required: true
  written:
    description: The registered result of the task that sent the plan's C(writes) (skipped or absent when none).
    type: dict
    default: {}
  written_after:
    description:
      - The registered result of the task that sent P(theedgeworks.devpi._deferred_writes#filter).
    type: dict
    default: {}
  check_mode:
    description: Whether the run is in check mode (then nothing was written).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Summarize what happened to every Secret
  ansible.builtin.set_fact:
    devpi_secrets_report: >-
      {{ _plan | theedgeworks.devpi._secret_report(_written, _written_after, ansible_check_mode) }}
"""

RETURN = r"""
_value:
  description:
    - C(secrets) (per Secret C(name), C(action), C(type), C(keys), and C(note) for a Secret a concurrent run created
      first or a key moved elsewhere, C(error) for a refused write), C(errors) (refused writes with C(name),
      C(verb), C(error), C(conflict)), C(raced) (names) and C(check_mode).
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import secret_report


class FilterModule:
    def filters(self):
        return {"_secret_report": secret_report}
