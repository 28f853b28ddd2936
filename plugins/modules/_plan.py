#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: _plan
short_description: "[INTERNAL] Decide every Secret of the devpi_secrets role"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - The decide step of the P(theedgeworks.devpi.devpi_secrets#role) role, computed once, in the controller process
    (an action plugin). Internal to that role - its options and results follow the role and may change in any release;
    use the role, or the M(theedgeworks.devpi.random_b64) and M(theedgeworks.devpi.htpasswd_bcrypt) modules.
  - Adds to the rotation set every Secret whose generated value is older than its maximum age
    (C(max_age_days) of O(inputs); the age is in the C(theedgeworks.devpi/generated-at) annotation the read returns),
    and stamps the writes with the ages of their generated values (C(plugins/plugin_utils/_ages.py)).
  - Draws every generated value that is missing, invalid or rotated (the body of M(theedgeworks.devpi.random_b64)),
    keeps or makes the basic-auth line (the body of M(theedgeworks.devpi.htpasswd_bcrypt)), and decides per Secret
    the action, the data and the writes (C(plugins/plugin_utils/_secret_plan.py)).
  - Never fails with text from outside; a failure of a body is returned in RV(problems), scrubbed of the supplied
    values. Its result holds Secret data - run it with C(no_log).
author:
  - The Edgeworks platform team (!UNKNOWN)
extends_documentation_fragment:
  - theedgeworks.devpi._attributes  # first: its support values win over the generic ones
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details:
      - Decides the same in check mode (new values are drawn, as the prediction); writes nothing in any mode.
  diff_mode:
    support: full
    details:
      - With diff, each Secret's report gets C(changed_keys) (fingerprints only of values generated on this run).
options:
  table:
    description: The role's table of Secrets (its C(vars/main.yml)).
    type: list
    elements: dict
    required: true
  cluster:
    description: What P(theedgeworks.devpi._cluster_state#lookup) read.
    type: dict
    required: true
  supplied:
    description: The user-supplied values by the table's C(input) names; an input not given is left out.
    type: dict
    default: {}
  inputs:
    description: The inputs as M(theedgeworks.devpi._check_inputs) returned them (C(inputs)).
    type: dict
    required: true
  rotate:
    description: The Secrets rotated on this run (names).
    type: list
    elements: str
    default: []
  base_labels:
    description: Labels every Secret carries.
    type: dict
    default: {}
  copy:
    description:
      - The encrypted copy of the generated values as P(theedgeworks.devpi._backup_read#lookup) read it (C(enabled),
        C(exists), C(values)). A generated value the cluster lacks is restored from it instead of drawn; where both
        hold one, the cluster's wins and RV(backup) says the copy must follow.
    type: dict
    default: {}
  tls:
    description:
      - The certificate's public facts as M(theedgeworks.devpi._check_inputs) returned them (C(tls)); in audit mode
        (C(inputs.audit)), a certificate within C(inputs.tls_expiry_warning_days) of its end is a finding.
    type: dict
    default: {}
  keycloak:
    description:
      - The Keycloak client's plan (P(theedgeworks.devpi._keycloak_plan#filter)) when it was read; in audit mode,
        each entry it lacks is a finding.
    type: dict
    default: {}
requirements:
  - bcrypt (Python library) in the environment that runs ansible-playbook.
seealso:
  - module: theedgeworks.devpi.random_b64
  - module: theedgeworks.devpi.htpasswd_bcrypt
"""

EXAMPLES = r"""
- name: Plan the writes (as the devpi_secrets role does)
  theedgeworks.devpi._plan:
    table: "{{ _devpi_secrets_table }}"
    cluster: "{{ _devpi_secrets_cluster }}"
    supplied: "{{ _devpi_secrets_supplied }}"
    inputs: "{{ _devpi_secrets_checked.inputs }}"
    rotate: [devpi-secret]
  register: _devpi_secrets_plan
  failed_when: false
  no_log: true
"""

RETURN = r"""
problems:
  description: What stops the run before any write, each a value-free sentence.
  returned: always
  type: list
  elements: str
changes:
  description: Whether anything is to be written or deleted.
  returned: always
  type: bool
secrets:
  description: Per Secret its C(name), C(action), C(type), C(data) (base64; holds secrets) and what the writes need.
  returned: success
  type: list
  elements: dict
writes:
  description: The definitions to send first (namespace first).
  returned: success
  type: list
  elements: dict
writes_after:
  description: Definitions that wait for another Secret to be written (C(after)).
  returned: success
  type: list
  elements: dict
deletes:
  description: Secrets of the wrong type to delete first (C(name), C(uid), C(resource_version)).
  returned: success
  type: list
  elements: dict
report:
  description:
    - The value-free report, one entry per Secret. A Secret with generated values also has C(ages) (per key
      C(age_days), C(at) or C(seen), C(by)), C(max_age_days) when one applies, and when rotated C(rotation)
      (C(reason) V(devpi_secrets_rotate) or V(max_age), with C(age_days), C(max_age_days), C(note)).
  returned: always
  type: list
  elements: dict
backup:
  description:
    - What the encrypted copy must hold after the run. C(action) is V(off), V(written) (no copy existed),
      V(unchanged) or V(updated); C(changes) lists per changed value C(secret), C(key) and C(why) (V(new),
      V(rotated), V(cluster) - the cluster held another value and wins -, V(generated), or V(age) - the copy
      holds another age stamp); C(values), C(types) and C(stamps) (the values' age stamps) are what the copy's
      manifests hold (secrets).
  returned: always
  type: dict
audit:
  description:
    - In audit mode (C(inputs.audit)) only; the plan then holds no write (C(changes) false, no C(writes),
      C(deletes), C(restarts) or C(problems) that are findings).
    - C(report) (value-free; C(ok), C(findings) each with C(kind), C(entry), C(reason), C(ages), ...), C(files)
      (C(path) and C(content) of the JSON report and of its Prometheus textfile, with C(inputs.audit_report)) and
      C(summary) (the failure message; empty when nothing was found).
  returned: when inputs.audit
  type: dict
"""
