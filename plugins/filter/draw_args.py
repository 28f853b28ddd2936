# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: draw_args
short_description: The current value and regenerate mode random_b64 gets for each generated key of devpi_secrets
version_added: 3.0.0
description:
  - "For every key of the role's table whose value is generated: C({secret: {key: {current, regenerate}}}). C(current)
    is the value read by P(theedgeworks.devpi.cluster_state#lookup) (in the key's own Secret, else where an older
    release kept it: C(formerly_in)) when its rule can keep or repair it, else V(null): a value that is neither is never
    handed to Ansible as a no_log value, whose masking would corrupt the output."
  - "C(regenerate): V(always) when the Secret rotates (named in O(rotate), or rotated with one that is), V(never) for
    a password that follows the password rules and verifies against its stored hash (kept whatever its form), else
    V(full_idempotence)."
  - The result holds secrets. Use it only in tasks with C(no_log). The decision is C(plugin_utils/secret_plan.py).
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
  user:
    description: The basic-auth user name (a password must not be a part of it, and verifies against its hash).
    type: str
  rotate:
    description: The Secrets rotated on this run (names; V(all) already expanded).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Keep or make a generated value
  theedgeworks.devpi.random_b64:
    current: "{{ _args['devpi-secret']['secret'].current or omit }}"
    regenerate: "{{ _args['devpi-secret']['secret'].regenerate }}"
  vars:
    _args: "{{ _table | theedgeworks.devpi.draw_args(_state, user='pypi-user', rotate=['devpi-secret']) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: Secret name to key to C(current) and C(regenerate).
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.secret_plan import draw_args


class FilterModule:
    def filters(self):
        return {"draw_args": draw_args}
