# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _keycloak_state
short_description: "[INTERNAL] Read a Keycloak client and its secret with one login, returning errors"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Logs in to Keycloak once (as C(community.general)'s Keycloak modules do with the same options - a client ID with
    a secret and no user name is the client-credentials grant, else the password grant), then GETs the client by its
    client ID and, for a confidential client, its secret. All in the controller process, no module launch.
  - A token from an earlier read of the same run may be passed in O(token); an expired one is replaced by a new login.
  - An error (connection, TLS, authentication, authorization) does not raise; it is returned as one line in
    C(error), without the request. The task that calls this lookup holds the secret and a token and must run with
    C(no_log); scrub O(auth_client_secret) and O(auth_password) from C(error) before showing it.
options:
  url:
    description: Keycloak's base URL (C(https://sso.example) for Keycloak 17+).
    type: str
    required: true
  realm:
    description: The realm of the client.
    type: str
    required: true
  client_id:
    description: The client ID (not the internal id).
    type: str
    required: true
  auth_realm:
    description: The realm to log in to.
    type: str
    required: true
  auth_client_id:
    description: The client to log in with.
    type: str
    default: admin-cli
  auth_client_secret:
    description: Its secret (client-credentials grant when O(auth_username) is empty).
    type: str
    default: ""
  auth_username:
    description: User name for the password grant.
    type: str
    default: ""
  auth_password:
    description: Password for the password grant.
    type: str
    default: ""
  validate_certs:
    description: Verify Keycloak's TLS certificate.
    type: bool
    default: true
  token:
    description: An access token of an earlier read in the same run; empty logs in.
    type: str
    default: ""
notes:
  - Used by the role C(theedgeworks.devpi.devpi_secrets) before and right before its Keycloak write.
seealso:
  - module: community.general.keycloak_client
"""

EXAMPLES = r"""
- name: Read the client of oauth2-proxy
  ansible.builtin.set_fact:
    kc: >-
      {{ lookup('theedgeworks.devpi._keycloak_state', url='https://sso.theedgeworks.ai', realm='theedgeworks',
                client_id='devpi', auth_realm='theedgeworks', auth_client_id='devpi-bootstrap',
                auth_client_secret=bootstrap_secret) }}
  no_log: true # holds the client secret and a token
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    error:
      description: Empty, or what went wrong, in one line without the request.
      type: str
    error_in:
      description: V(login), V(client) or V(secret) - which step failed; empty without error.
      type: str
    client:
      description: The client's representation as Keycloak returns it; V(null) when there is no such client.
      type: dict
    secret:
      description: The client's secret; V(null) for a public or missing client.
      type: str
    token:
      description: The access token used (for the next read or the write of the same run).
      type: str
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._keycloak_read import read_client


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        auth = {
            "auth_realm": self.get_option("auth_realm"),
            "auth_client_id": self.get_option("auth_client_id") or "admin-cli",
            "auth_client_secret": self.get_option("auth_client_secret") or None,
            "auth_username": self.get_option("auth_username") or None,
            "auth_password": self.get_option("auth_password") or None,
            "validate_certs": self.get_option("validate_certs"),
        }
        return [
            read_client(
                self.get_option("url"),
                self.get_option("realm"),
                self.get_option("client_id"),
                auth,
                self.get_option("token"),
            )
        ]
