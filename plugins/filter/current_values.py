# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: current_values
short_description: The value each generated key of the devpi_secrets role holds in the cluster now
version_added: 2.0.0
description:
  - "For every key of the role's table whose value is generated, the value read by
    P(theedgeworks.devpi.cluster_state#lookup): C({secret: {key: value}}). A key not found in its own Secret is looked
    for in the Secret an older release kept it in (the key's C(formerly_in)), so that it moves rather than being
    generated anew."
  - The result holds secrets. Use it only in tasks with C(no_log).
options:
  _input:
    description: The role's table of Secrets (C(vars/main.yml)).
    type: list
    elements: dict
    required: true
  cluster:
    description: The result of the P(theedgeworks.devpi.cluster_state#lookup) lookup.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Keep or make a generated value
  theedgeworks.devpi.random_b64:
    current: "{{ (_table | theedgeworks.devpi.current_values(_state))['devpi-secret']['secret'] | default(omit) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: Secret name to key to value.
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.secret_plan import current_values


class FilterModule:
    def filters(self):
        return {"current_values": current_values}
