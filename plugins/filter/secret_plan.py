# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: secret_plan
short_description: Decide what each Secret of the devpi_secrets role must hold and which writes get it there
version_added: 2.0.0
description:
  - Compares what each Secret must hold (user-supplied values, the values the role's C(random_b64) and
    C(htpasswd_bcrypt) tasks kept or made) with what the cluster holds, and lists the writes in the order they must
    happen. The logic is C(plugins/plugin_utils/secret_plan.py).
  - The result carries Secret data. Use it only in tasks with C(no_log); its C(report) key holds names, actions, keys
    and (with O(with_diff)) fingerprints only.
options:
  _input:
    description: The role's table of Secrets (C(vars/main.yml), C(_devpi_secrets_table)).
    type: list
    elements: dict
    required: true
  cluster:
    description: The result of the P(theedgeworks.devpi.cluster_state#lookup) lookup.
    type: dict
    required: true
  supplied:
    description: User-supplied values by input name (the table's C(input) fields).
    type: dict
    required: true
  random:
    description: The registered result of the role's C(random_b64) loop over C(table | subelements('keys')).
    type: dict
    required: true
  htpasswd:
    description: The registered result of the role's C(theedgeworks.devpi.htpasswd_bcrypt) task.
    type: dict
    required: true
  labels:
    description: Extra labels for every Secret and a namespace created here.
    type: dict
    default: {}
  base_labels:
    description: Labels every Secret carries.
    type: dict
    default: {}
  rotate:
    description: Names of the Secrets rotated on this run.
    type: list
    elements: str
    default: []
  namespace:
    description: The namespace of the Secrets.
    type: str
    required: true
  with_diff:
    description: Add fingerprints of the changed keys to the report.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Plan the writes
  ansible.builtin.set_fact:
    _plan: >-
      {{ _devpi_secrets_table | theedgeworks.devpi.secret_plan(cluster=_state, supplied=_supplied, random=_random,
         htpasswd=_htpasswd, rotate=['devpi-secret'], namespace='devpi') }}
  no_log: true
"""

RETURN = r"""
_value:
  description:
    - C(secrets) (one entry per table row with C(name), C(action) - V(created), V(kept), V(updated), V(rotated),
      V(repaired) or V(replaced) - C(type), C(data), C(labels), C(resource_version), C(uid)), C(writes) (the
      definitions to send, namespace first), C(deletes) (Secrets of the wrong type), C(warnings) and C(report).
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.secret_plan import secret_plan


class FilterModule:
    def filters(self):
        return {"secret_plan": secret_plan}
