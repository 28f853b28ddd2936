#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: _check_inputs
short_description: "[INTERNAL] Check every input of the devpi_secrets role before anything is read or written"
version_added: 2.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Reads the role's variables from the task's variables by the names in the role's C(meta/argument_specs.yml) and
    converts each to the type given there, as Ansible's C(type) conversions do (C(-e name=false) is the string
    V(false) until here, V(false) after; C(-e name=5) an integer for an C(int) option; a comma-separated string a list
    for a C(list) option). A value that does not convert is a problem naming the variable.
  - A relative C(devpi_secrets_tls_cert_file) or C(devpi_secrets_tls_key_file) is taken from the playbook's directory
    (C(playbook_dir)); the absolute path checked is returned, for the read to use.
  - Applies the collection's input rules (the same rules its modules apply, see C(plugins/module_utils/rules.py)) to
    the variables of the P(theedgeworks.devpi.devpi_secrets#role) role, reads and checks the TLS certificate and key
    (they form a pair, the certificate covers the host and is in date), and checks that the Python running
    ansible-playbook has the libraries the role needs.
  - Every problem is reported at once, each naming its variable and never a value, so a bad input fails here, in a
    task whose output is shown, rather than later inside a task that runs with C(no_log).
  - Runs in the controller process (an action plugin); nothing is read from the target or the cluster.
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
      - Reads and checks only; behaves the same in check mode.
  diff_mode:
    support: none
options:
  argument_spec:
    description:
      - Path of the argument spec whose C(main) entry point names and types the inputs. Default the calling role's
        C(meta/argument_specs.yml).
    type: path
  rotatable:
    description: Names of the Secrets that hold generated values, which C(devpi_secrets_rotate) may name.
    type: list
    elements: str
    required: true
  names:
    description: Names of all the Secrets the role manages (they must differ).
    type: list
    elements: str
    default: []
requirements:
  - cryptography, kubernetes and bcrypt (Python libraries) in the environment that runs ansible-playbook.
seealso:
  - module: theedgeworks.devpi.random_b64
  - module: theedgeworks.devpi.htpasswd_bcrypt
"""

EXAMPLES = r"""
---
- name: Check the inputs before anything is read or written (in a task of the devpi_secrets role)
  theedgeworks.devpi._check_inputs:
    rotatable: [devpi-secret, devpi-oauth2-proxy-secret, devpi-basic-auth]
    names: [devpi-tls, devpi-secret, devpi-oauth2-proxy-secret, devpi-basic-auth, devpi-basic-auth-client]
  register: checked
"""

RETURN = r"""
inputs:
  description:
    - Every input but the four secrets (client secret, basic-auth password, Keycloak auth secret and password), by
      its name without C(devpi_secrets_), converted to its type; the TLS file paths absolute.
  returned: always
  type: dict
  sample: {namespace: devpi, create_namespace: false, basic_auth_cost: 5, tls_cert_file: /secure/tls.crt}
rotate:
  description: The Secrets to rotate on this run, with V(all) resolved to the names.
  returned: success
  type: list
  elements: str
  sample: [devpi-secret]
password_given:
  description: Whether C(devpi_secrets_basic_auth_password) was given (else a password is generated and kept).
  returned: success
  type: bool
tls:
  description: Public facts of the certificate.
  returned: success
  type: dict
  contains:
    sha256:
      description: C(sha256:) and the SHA-256 of the certificate (DER), as C(openssl x509 -fingerprint -sha256) shows.
      type: str
    dns_names:
      description: The DNS names of its subjectAltName.
      type: list
      elements: str
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
problems:
  description: Every problem found, each a sentence naming its variable.
  returned: failure
  type: list
  elements: str
"""
