# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: generated_values
short_description: The value each generated key holds after the role's random_b64 loop (new, repaired or current)
version_added: 2.0.0
description:
  - "Maps the registered result of a C(theedgeworks.devpi.random_b64) loop over C(table | subelements('keys')) to
    C({secret: {key: value}}), taking the returned value when one was generated or repaired, else the current value
    read by P(theedgeworks.devpi.cluster_state#lookup)."
  - The result holds secrets. Use it only in tasks with C(no_log).
options:
  _input:
    description: The registered result of the loop.
    type: dict
    required: true
  cluster:
    description: The result of the P(theedgeworks.devpi.cluster_state#lookup) lookup.
    type: dict
    required: true
  table:
    description: The role's table of Secrets (for the places older releases kept a value, see
      P(theedgeworks.devpi.draw_args#filter)).
    type: list
    elements: dict
    required: true
  user:
    description: The basic-auth user name (see P(theedgeworks.devpi.draw_args#filter)).
    type: str
"""

EXAMPLES = r"""
- name: Hash the generated password
  theedgeworks.devpi.htpasswd_bcrypt:
    users:
      - name: pypi-user
        password: >-
          {{ (_random | theedgeworks.devpi.generated_values(_state, _table))['devpi-basic-auth-client']['password'] }}
  no_log: true
"""

RETURN = r"""
_value:
  description: Secret name to key to value.
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.secret_plan import generated_values


class FilterModule:
    def filters(self):
        return {"generated_values": generated_values}
