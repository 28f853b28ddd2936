#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: check_inputs
short_description: Check every input of the devpi_secrets role on the controller, before anything is read or written
version_added: 2.0.0
description:
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
  inputs:
    description:
      - The role's public variables by name (C(devpi_secrets_namespace), C(devpi_secrets_tls_cert_file), ...); see the
        role's C(meta/argument_specs.yml). A variable left unset is left out.
    type: dict
    required: true
  rotatable:
    description: Names of the Secrets that hold generated values, which O(inputs) C(devpi_secrets_rotate) may name.
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
- name: Check the inputs before anything is read or written
  theedgeworks.devpi.check_inputs:
    inputs:
      devpi_secrets_namespace: devpi
      devpi_secrets_tls_cert_file: /secure/pypi.theedgeworks.ai.crt
      devpi_secrets_tls_key_file: /secure/pypi.theedgeworks.ai.key
      devpi_secrets_tls_host: pypi.theedgeworks.ai
      devpi_secrets_tls_expiry_warning_days: 30
      devpi_secrets_oauth2_client_id: theedgeworks
      devpi_secrets_oauth2_client_secret: "{{ vault_devpi_oauth2_client_secret }}"
      devpi_secrets_basic_auth_user: pypi-user
      devpi_secrets_basic_auth_cost: 5
      devpi_secrets_basic_auth_client_name: devpi-basic-auth-client
      devpi_secrets_rotate: []
      devpi_secrets_kubeconfig: ""
      devpi_secrets_labels: {}
    rotatable: [devpi-secret, devpi-oauth2-proxy-secret, devpi-basic-auth]
    names: [devpi-tls, devpi-secret, devpi-oauth2-proxy-secret, devpi-basic-auth, devpi-basic-auth-client]
  register: checked
"""

RETURN = r"""
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
