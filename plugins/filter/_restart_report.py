# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _restart_report
short_description: "[INTERNAL] Which workloads the devpi_secrets role restarted, or would restart, without any value"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Combines the restarts the devpi_secrets role decided (the C(restarts) of its outcome, the workloads whose pod
    templates reference a Secret whose data the run changed) with the registered result of the C(kubernetes.core.k8s)
    task that sent their patches (one definition list, C(continue_on_error)), and says per workload what happened.
    The logic is C(plugins/plugin_utils/_write_outcome.py).
  - Safe to print - kinds, names, Secret names and value-free error messages.
options:
  _input:
    description: The restarts, in the order their patches were sent.
    type: list
    elements: dict
    required: true
  registered:
    description: The registered result of the patch task (skipped or absent when nothing was sent).
    type: dict
    default: {}
  check_mode:
    description: Whether the run is in check mode (then nothing was sent, and every restart is one that would be).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Say what was restarted
  ansible.builtin.debug:
    msg: "{{ _outcome.restarts | theedgeworks.devpi._restart_report(_restarted, ansible_check_mode) }}"
"""

RETURN = r"""
_value:
  description:
    - One dictionary per workload - C(kind), C(name), C(secrets) (the changed Secrets it references), C(ways)
      (V(volume), V(projected), V(env), V(envFrom)), C(action) (V(restarted), V(would restart), V(failed),
      V(not restarted)) and, for a refused patch, C(error).
  type: list
  elements: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import restart_outcome


def restart_report(due, registered=None, check_mode=False):
    return restart_outcome(due, registered or {}, check_mode)


class FilterModule:
    def filters(self):
        return {"_restart_report": restart_report}
