"""Test-only callback: at the end of a run, write what the role decided to a JSON file for the tests to read.

DEVPI_CAPTURE_FILE  where to write (mode 0600: it holds secrets). Nothing is written when it is unset.

Per host: ``report`` (``devpi_secrets_report``, the role's public, value-free report), ``restart``
(``devpi_secrets_restart_report``), ``audit`` (``devpi_secrets_audit_result``), ``warnings`` (the role's
value-free warnings) and ``values`` - every value the run made or meant to write, whatever became of it: the data of
every Secret of the plan (the ``theedgeworks.devpi._plan`` step draws the generated values and makes the htpasswd line
into it, also in check mode) but its public keys, also decoded (also for writes that were refused or that lost a
race). The leak suite
searches the output for all of them. They are read from the variables the role registered (callbacks only see
censored results of no_log tasks) after every task, so the values of a first pass that a second pass overwrote
count too, and failed hosts are covered.
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: devpi_capture
type: aggregate
short_description: write the role's report and the values it made to a file (tests only)
description: Test-only; see the module docstring.
"""


def _decode(value):
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError, TypeError):
        return None


def _values(facts: dict) -> list[str]:
    values = []
    plans = [facts.get(name) for name in sorted(facts) if name.startswith("_devpi_secrets_plan")]
    for plan in plans:
        for entry in (plan or {}).get("secrets", []) or []:
            public = set(entry.get("public") or [])  # client-id, username, tls.crt: not secrets
            for key, value in (entry.get("data") or {}).items():
                if value and key not in public:
                    values.append(str(value))
                    decoded = _decode(value)
                    if decoded:
                        values.append(decoded)
    return values


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "devpi_capture"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._variable_manager = None
        self._values = {}

    def v2_playbook_on_play_start(self, play):
        self._variable_manager = play.get_variable_manager()

    def _snapshot(self, result):
        if self._variable_manager is None or not os.environ.get("DEVPI_CAPTURE_FILE"):
            return
        host = result._host.get_name()
        facts = self._variable_manager._nonpersistent_fact_cache.get(host) or {}
        seen = self._values.setdefault(host, [])
        seen.extend(v for v in _values(facts) if v not in seen)

    def v2_runner_on_ok(self, result):
        self._snapshot(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._snapshot(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("DEVPI_CAPTURE_FILE")
        if not path or self._variable_manager is None:
            return
        out = {}
        for host, facts in self._variable_manager._nonpersistent_fact_cache.items():
            out[host] = {
                "report": facts.get("devpi_secrets_report"),
                "keycloak": facts.get("devpi_secrets_keycloak_report"),
                "restart": facts.get("devpi_secrets_restart_report"),
                "backup": facts.get("devpi_secrets_backup_report"),
                "audit": facts.get("devpi_secrets_audit_result"),
                "warnings": (facts.get("_devpi_secrets_outcome") or {}).get("warnings", []),
                "values": sorted(set(self._values.get(host, [])) | set(_values(facts))),
            }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(out, fh, default=str)
