# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""What the Keycloak client of oauth2-proxy must get: the seed's redirect URI and web origin, merged, never dropped.

Reads what the ``keycloak_state`` lookup read (``_keycloak_read.py``: the client and its secret, or an error).
community.general's ``keycloak_client``, which writes, replaces ``redirect_uris`` and ``web_origins`` with what it is
given, so the lists to send are the current ones plus what is missing. A missing, public or non-standard-flow client
is a problem to fix in Keycloak: this role never creates or reconfigures a client. No Ansible imports; the plan holds
no value (the client secret is compared here, not kept).
"""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import scrub


def wanted_entries(host):
    """The redirect URI and web origin oauth2-proxy needs at ``https://host``."""
    return "https://%s/oauth2/callback" % host, "https://%s" % host


def _merged(current, wanted):
    current = list(current or [])
    added = [entry for entry in wanted if entry not in current]
    return current + added, added


def keycloak_plan(read, host, client_id, realm, url, given_secret=None, secrets=(), secret_given=None):
    """``{problems, redirect_uris, web_origins, redirect_uris_added, web_origins_added, changes}``, value-free;
    ``changes``: the client misses an entry (a write is needed). ``read``: the keycloak_state lookup's answer.

    ``secrets``: values to scrub from error texts (the auth secret or password, the given client secret).
    ``secret_given``: whether ``given_secret`` was given (check_inputs decided); ``False`` ignores it.
    """
    if secret_given is False:
        given_secret = None
    plan = {
        "problems": [],
        "redirect_uris": [],
        "web_origins": [],
        "redirect_uris_added": [],
        "web_origins_added": [],
        "changes": False,
    }
    where = (
        "Keycloak client '%s' of realm '%s' at %s (devpi_secrets_oauth2_client_id, devpi_secrets_keycloak_realm)"
        % (
            client_id,
            realm,
            url,
        )
    )
    read = read or {}
    if read.get("error") and read.get("error_in") != "secret":
        plan["problems"].append("Cannot read %s: %s" % (where, scrub(read["error"], secrets)))
        return plan
    client = read.get("client") or {}
    if not client.get("clientId"):
        plan["problems"].append(
            "%s does not exist: create it in the Keycloak admin console (Clients, Create client: OpenID Connect, "
            "Client authentication on, Standard flow on). This role never creates a client." % where
        )
        return plan
    if client.get("publicClient"):
        plan["problems"].append(
            "%s is public: oauth2-proxy needs a confidential client with a secret - turn Client authentication on "
            "(Clients, %s, Settings, Capability config)." % (where, client_id)
        )
    if not client.get("standardFlowEnabled", True):
        plan["problems"].append(
            "%s has the standard flow (authorization code) off, which oauth2-proxy's login uses - turn Standard flow "
            "on (Clients, %s, Settings, Capability config)." % (where, client_id)
        )
    if plan["problems"]:
        return plan
    redirect, origin = wanted_entries(host)
    plan["redirect_uris"], plan["redirect_uris_added"] = _merged(client.get("redirectUris"), [redirect])
    plan["web_origins"], plan["web_origins_added"] = _merged(client.get("webOrigins"), [origin])
    plan["changes"] = bool(plan["redirect_uris_added"] or plan["web_origins_added"])
    if read.get("error"):
        plan["problems"].append("Cannot read the secret of %s: %s" % (where, scrub(read["error"], secrets)))
        return plan
    value = read.get("secret")
    if not isinstance(value, str) or value.strip() == "":
        plan["problems"].append(
            "Keycloak returned no secret for %s: regenerate it in the admin console (Clients, %s, Credentials, "
            "Regenerate), or check that the client is confidential." % (where, client_id)
        )
        return plan
    if given_secret is not None and given_secret != value:
        plan["problems"].append(
            "devpi_secrets_oauth2_client_secret differs from the secret Keycloak holds for %s: give Keycloak's, or "
            "leave devpi_secrets_oauth2_client_secret unset to have it read from Keycloak." % where
        )
    return plan
