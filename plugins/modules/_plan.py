#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: _plan
short_description: "[INTERNAL] Check the inputs, read, and decide every Secret of the devpi_secrets role"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - The validate, read and decide steps of the P(theedgeworks.devpi.devpi_secrets#role) role in one task, in the
    controller process (an action plugin); each step runs only when the ones before found no problem.
  - Validate - reads the role's variables from the task's variables by the names in the role's
    C(meta/argument_specs.yml) and converts each to the type given there, as Ansible's C(type) conversions do
    (C(-e name=false) is the string V(false) until here, V(false) after). Applies the collection's input rules (those
    of its modules, C(plugins/module_utils/rules.py)), checks the TLS pair (a pair, covering the host, in date) and
    the Python libraries of the controller. Relative paths are taken from the playbook's directory. Every problem
    names its variable, never a value (C(plugins/plugin_utils/_inputs.py)).
  - Read - with C(devpi_secrets_keycloak_url), the Keycloak client and its secret with one login; the namespace, one
    GET per Secret and, with C(devpi_secrets_restart_consumers), the workloads of the namespace
    (P(theedgeworks.devpi._cluster_state#lookup), called in-process); the encrypted copy
    (P(theedgeworks.devpi._backup_read#lookup)); the TLS files.
  - Decide - adds to the rotation set every Secret whose generated value is older than its maximum age, draws every
    generated value that is missing, invalid or rotated (the body of M(theedgeworks.devpi.random_b64)), keeps or makes
    the basic-auth line (the body of M(theedgeworks.devpi.htpasswd_bcrypt)), and decides per Secret the action, the
    data and the writes (C(plugins/plugin_utils/_plan.py), C(_secret_plan.py)); and whether the write phase runs.
  - Never fails with text from outside; what stops the run is returned in RV(problems), value-free. Its result holds
    Secret data - run it with C(no_log).
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
  base_labels:
    description: Labels every Secret carries.
    type: dict
    default: {}
  pass:
    description:
      - V(1), or V(2) for the second pass after a create lost a race to another run (nothing is rotated again,
        Keycloak is not read again).
    type: int
    default: 1
  earlier:
    description: On the second pass, the first pass's C(keycloak_read), C(keycloak) and C(outcome).
    type: dict
    default: {}
  argument_spec:
    description:
      - Path of the argument spec that names the inputs; default the calling role's C(meta/argument_specs.yml).
    type: path
requirements:
  - cryptography, kubernetes and bcrypt (Python libraries) in the environment that runs ansible-playbook.
seealso:
  - module: theedgeworks.devpi.random_b64
  - module: theedgeworks.devpi.htpasswd_bcrypt
"""

EXAMPLES = r"""
- name: Check the inputs, read, and plan the writes (as the devpi_secrets role does)
  theedgeworks.devpi._plan:
    table: "{{ _devpi_secrets_table }}"
    base_labels: "{{ _devpi_secrets_base_labels }}"
  register: _devpi_secrets_plan
  failed_when: false
  no_log: true
"""

RETURN = r"""
inputs:
  description: Every input but the four secrets, by its name without C(devpi_secrets_), converted and paths resolved.
  returned: always
  type: dict
checked:
  description:
    - C(rotate), C(client_secret_given), C(keycloak), C(tls) (value-free).
  returned: always
  type: dict
write:
  description:
    - Whether the write phase runs (the cluster, the Keycloak client or the encrypted copy needs a write; never in
      an audit).
  returned: always
  type: bool
copy_due:
  description: Whether the encrypted copy or its Flux-ready form is to be written.
  returned: always
  type: bool
namespace_exists:
  description: Whether the namespace existed when it was read.
  returned: always
  type: bool
keycloak:
  description:
    - The Keycloak client's plan (C(changes), C(redirect_uris), C(web_origins), the entries added), value-free; empty
      without Keycloak.
  returned: always
  type: dict
keycloak_read:
  description: The Keycloak read (holds the client secret and the token of the login); empty without Keycloak.
  returned: always
  type: dict
outcome:
  description:
    - The value-free outcome of this pass if it writes nothing (C(secrets), C(errors), C(raced), C(warnings),
      C(restarts), C(mount_warnings)).
  returned: success
  type: dict
problems:
  description: What stops the run before any write, each a value-free sentence.
  returned: always
  type: list
  elements: str
notes:
  description:
    - The warnings the role reports at the end, value-free - the plan's (values repaired or regenerated, Secrets left
      unused, ages, mounts devpi-server refuses), the input checks' (a certificate that expires soon) and the two
      bodies' (a bcrypt cost above 7). Not C(warnings), which in a task result are Ansible's own.
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
