# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument spec and body of the ``random_b64`` module.

Shared by ``plugins/modules/random_b64.py`` (``AnsibleModule``) and ``plugins/action/random_b64.py`` (the same body run
in the controller process, see ``plugin_utils/_controller_module.py``). The decision itself is ``b64secret.decide``.
"""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.module_utils.b64secret import (
    ALPHABETS,
    MAX_BYTES,
    MIN_BYTES,
    REGENERATE_MODES,
    decide,
    fingerprintable,
)
from ansible_collections.theedgeworks.devpi.plugins.module_utils.fingerprint import fingerprint
from ansible_collections.theedgeworks.devpi.plugins.module_utils.nolog_guard import masked_values

# How often to draw again when a fresh value happens to contain a (very short) no_log input.
_MAX_DRAWS = 64

ARGUMENT_SPEC = dict(
    num_bytes=dict(type="int", default=32),
    alphabet=dict(type="str", default="standard", choices=list(ALPHABETS)),
    current=dict(type="str", no_log=True),
    regenerate=dict(type="str", default="full_idempotence", choices=list(REGENERATE_MODES)),
    repair=dict(type="bool", default=True),
)


def run(module):
    """Keep, repair or generate; ends with ``module.exit_json`` or ``module.fail_json``."""
    params = module.params
    num_bytes = params["num_bytes"]
    if not MIN_BYTES <= num_bytes <= MAX_BYTES:
        module.fail_json(msg="num_bytes must be from %d to %d, got %d" % (MIN_BYTES, MAX_BYTES, num_bytes))
    current = params["current"]
    if current == "":
        current = None

    alphabet = params["alphabet"]
    result = None
    for _attempt in range(_MAX_DRAWS):
        decision = decide(
            current,
            num_bytes,
            alphabet,
            regenerate=params["regenerate"],
            allow_repair=params["repair"],
        )
        if decision.action == "fail":
            module.fail_json(msg=decision.error, valid=False)

        resulting = decision.value if decision.changed else current
        result = {
            "changed": decision.changed,
            "valid": decision.valid,
            "generated": decision.action == "generate",
            "repaired": decision.action == "repair",
        }
        if decision.changed:
            result["value"] = decision.value
        # A fingerprint only of what was generated here: a kept or repaired value may have been chosen by a person.
        if decision.action == "generate" and fingerprintable(resulting, num_bytes, alphabet):
            result["fingerprint"] = fingerprint(resulting)
        # Only the value and its fingerprint matter to the caller: a masked diff would merely look odd.
        if not masked_values([result.get("value"), result.get("fingerprint")], module.no_log_values):
            break
        if decision.action != "generate":
            result = None
            break
    else:
        result = None

    if result is None:
        module.fail_json(
            msg="current (%d characters) occurs inside the new value, where Ansible would mask it with "
            "asterisks; pass a valid current value, or omit it" % len(current or "")
        )
    if module._diff:
        after = {"keep": "<kept>", "repair": "<re-encoded, same bytes>"}.get(decision.action)
        if after is None:
            after = result["fingerprint"] + " (generated)" if "fingerprint" in result else "<new>"
        before = "<absent>" if current is None else "<present>"
        result["diff"] = {"before": {"value": before}, "after": {"value": after}}
    if decision.warning:
        module.warn(decision.warning)
    module.exit_json(**result)
