# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _keycloak_plan
short_description: "[INTERNAL] What the Keycloak client of oauth2-proxy must get, merged, never dropped"
version_added: 2.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Takes what the C(theedgeworks.devpi._keycloak_state) lookup read (the client and its secret, or an error) and
    says what to write - the current C(redirect_uris) and C(web_origins) plus C(https://HOST/oauth2/callback) and
    C(https://HOST) when missing (C(community.general.keycloak_client) replaces the lists it is given) - or what is
    wrong.
  - A missing, public or non-standard-flow client is a problem to fix in Keycloak; so is a given client secret that
    differs from Keycloak's (compared here; the result holds no value). Error texts are scrubbed of O(secrets).
  - The logic is C(plugins/plugin_utils/_keycloak_client.py).
options:
  _input:
    description: The answer of the C(theedgeworks.devpi._keycloak_state) lookup.
    type: dict
    required: true
  host:
    description: The public host name of devpi (C(devpi_secrets_tls_host)).
    type: str
    required: true
  client_id:
    description: The client ID, for messages.
    type: str
    required: true
  realm:
    description: The realm, for messages.
    type: str
    required: true
  url:
    description: The Keycloak URL, for messages.
    type: str
    required: true
  given_secret:
    description: The client secret the user gave, if any, to compare with Keycloak's.
    type: str
  secrets:
    description: Values to scrub from error texts (the authentication secret or password, the given client secret).
    type: list
    elements: str
    default: []
  secret_given:
    description: Whether O(given_secret) was given; V(false) ignores it (an empty or default value).
    type: bool
"""

EXAMPLES = r"""
- name: Decide what to add to the Keycloak client
  ansible.builtin.set_fact:
    _keycloak: >-
      {{ _keycloak_read | theedgeworks.devpi._keycloak_plan(host='pypi.theedgeworks.ai',
         client_id='theedgeworks', realm='theedgeworks', url='https://sso.theedgeworks.ai') }}
"""

RETURN = r"""
_value:
  description:
    - C(problems) (sentences, empty when all is well), C(redirect_uris) and C(web_origins) (the lists to send),
      C(redirect_uris_added) and C(web_origins_added) (what they add).
  type: dict
"""

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._keycloak_client import keycloak_plan


def _keycloak_plan(read, host="", client_id="", realm="", url="", given_secret=None, secrets=(), secret_given=None):
    secrets = list(secrets or ())
    return keycloak_plan(read, host, client_id, realm, url, given_secret, secrets, secret_given=secret_given)


class FilterModule:
    def filters(self):
        return {"_keycloak_plan": _keycloak_plan}
