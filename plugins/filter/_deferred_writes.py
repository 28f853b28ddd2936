# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _deferred_writes
short_description: "[INTERNAL] The writes of a plan that may go once the Secrets they wait for are written"
version_added: 2.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - A Secret that still holds a key whose value moved to another Secret (the generated basic-auth password, kept in
    C(devpi-basic-auth) by release 1.0.0) is written only after that other Secret was written, so that the value is
    never dropped before it is stored elsewhere. This filter returns the definitions of the plan's C(writes_after)
    whose Secret was written by the first write task.
  - The result carries Secret data. Use it only in tasks with C(no_log).
options:
  _input:
    description: The plan of M(theedgeworks.devpi._plan).
    type: dict
    required: true
  written:
    description: The registered result of the C(kubernetes.core.k8s) task that sent the plan's C(writes).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Then the writes that waited for another Secret
  kubernetes.core.k8s:
    definition: "{{ _plan | theedgeworks.devpi._deferred_writes(_written) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: Definitions for C(kubernetes.core.k8s).
  type: list
  elements: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import deferred_writes


class FilterModule:
    def filters(self):
        return {"_deferred_writes": deferred_writes}
