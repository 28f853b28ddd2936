# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The Keycloak client of oauth2-proxy and its secret, read in the controller process with one login.

Replaces two module runs (community.general's ``keycloak_client`` in check mode and ``keycloak_clientsecret_info``),
each of which started a Python process and logged in: 2.6-2.8 s of a re-run with Keycloak. The login follows
community.general's ``get_token`` (``module_utils/identity/keycloak/keycloak.py``), so the same variables mean the
same: a client ID with a secret and no user name is the client-credentials grant, anything else the password grant
(``admin-cli`` by default). The writes stay with ``community.general.keycloak_client``, which takes the token.

Errors come back as one line without the request (``HTTP <code> <reason>: <error>``), to be scrubbed by the caller.
"""

from __future__ import annotations

import json
import urllib.parse

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

TIMEOUT = 10  # community.general's connection_timeout default
AGENT = "theedgeworks.devpi"


def _text(exc):
    if isinstance(exc, HTTPError):
        detail = ""
        try:
            body = json.loads(exc.read() or b"{}")
        except (ValueError, OSError):
            body = {}
        if isinstance(body, dict):
            detail = body.get("error_description") or body.get("errorMessage") or body.get("error") or ""
        return "HTTP %s %s%s" % (exc.code, exc.reason, (": " + str(detail)) if detail else "")
    return " ".join(str(exc).split()) or exc.__class__.__name__


def login(url, auth_realm, auth_client_id="admin-cli", auth_client_secret=None, auth_username=None,
          auth_password=None, validate_certs=True):  # fmt: skip
    """An access token (raises ``KeycloakReadError``)."""
    if auth_client_id and auth_client_secret and not auth_username:
        payload = {"grant_type": "client_credentials", "client_id": auth_client_id, "client_secret": auth_client_secret}
    else:
        payload = {
            "grant_type": "password",
            "client_id": auth_client_id or "admin-cli",
            "client_secret": auth_client_secret,
            "username": auth_username,
            "password": auth_password,
        }
    payload = {key: value for key, value in payload.items() if value}
    token_url = "%s/realms/%s/protocol/openid-connect/token" % (url.rstrip("/"), urllib.parse.quote(auth_realm))
    try:
        answer = json.loads(
            open_url(
                token_url,
                method="POST",
                data=urllib.parse.urlencode(payload),
                validate_certs=validate_certs,
                http_agent=AGENT,
                timeout=TIMEOUT,
            ).read()  # fmt: skip
        )
        return answer["access_token"]
    except (KeyError, TypeError, ValueError):
        raise KeycloakReadError("login", "the token endpoint answered without an access token") from None
    except Exception as exc:  # noqa: BLE001 - every connection, TLS or HTTP error is reported
        raise KeycloakReadError("login", _text(exc)) from None


def _get(url, token, validate_certs):
    response = open_url(url, method="GET", headers={"Authorization": "Bearer " + token, "Accept": "application/json"},
                        validate_certs=validate_certs, http_agent=AGENT, timeout=TIMEOUT)  # fmt: skip
    return json.loads(response.read())


def read_client(url, realm, client_id, auth, token=""):
    """``{error, error_in, client, secret, token}``: the client (None when missing) and its secret (None for a public
    or missing client); ``token`` is the one used, for the next read or the write of the same run. A rejected
    ``token`` (expired) is replaced by a new login once. Never raises."""
    state = {"error": "", "error_in": "", "client": None, "secret": None, "token": ""}
    base = "%s/admin/realms/%s/clients" % (url.rstrip("/"), urllib.parse.quote(realm))
    validate = auth.get("validate_certs", True)
    for attempt in (1, 2):
        where = "client"
        try:
            if not token:
                token = login(url, **auth)
            found = _get(base + "?" + urllib.parse.urlencode({"clientId": client_id}), token, validate)
            client = next((c for c in found if isinstance(c, dict) and c.get("clientId") == client_id), None)
            state.update(client=client, token=token)
            if client and not client.get("publicClient"):
                where = "secret"
                answer = _get("%s/%s/client-secret" % (base, urllib.parse.quote(client["id"])), token, validate)
                state["secret"] = answer.get("value") if isinstance(answer, dict) else None
            return state
        except KeycloakReadError as exc:
            state.update(error=exc.text, error_in=exc.where)
            return state
        except HTTPError as exc:
            if exc.code == 401 and attempt == 1 and token:
                token = ""  # expired since the last read: log in again, once
                continue
            state.update(error=_text(exc), error_in=where)
            return state
        except Exception as exc:  # noqa: BLE001
            state.update(error=_text(exc), error_in=where)
            return state
    return state


class KeycloakReadError(Exception):
    def __init__(self, where, text):
        super().__init__(text)
        self.where, self.text = where, text
