# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument spec and body of the ``htpasswd_bcrypt`` module.

Shared by ``plugins/modules/htpasswd_bcrypt.py`` (``AnsibleModule``) and ``plugins/action/htpasswd_bcrypt.py`` (the
same body run in the controller process, see ``plugin_utils/_controller_module.py``). The decisions are
``htpasswd.plan``; the input rules ``rules.py``.
"""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import (
    BCRYPT_IMPORT_ERROR,
    COST_WARNING,
    HAS_BCRYPT,
    REGENERATE_MODES,
    WARN_COST,
    plan,
    validate_cost,
    validate_users,
)
from ansible_collections.theedgeworks.devpi.plugins.module_utils.nolog_guard import masked_values

# How often to draw a new salt when a new line happens to contain a (very short) no_log input.
_MAX_RESALTS = 32

ARGUMENT_SPEC = dict(
    users=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
        ),
    ),
    current=dict(type="str", no_log=True),
    cost=dict(type="int", default=5),
    regenerate=dict(type="str", default="full_idempotence", choices=list(REGENERATE_MODES)),
)


def _build_result(module, result_plan):
    result = dict(
        changed=result_plan.changed,
        users=result_plan.users,
        order=result_plan.order,
        lines=result_plan.lines,
        reformatted=result_plan.reformatted,
    )
    if module._diff:
        result["diff"] = dict(before=dict(result_plan.before), after=dict(result_plan.after))
    return result


def run(module):
    """Plan the lines; ends with ``module.exit_json`` or ``module.fail_json``."""
    if not HAS_BCRYPT:
        module.fail_json(msg=missing_required_lib("bcrypt"), exception=str(BCRYPT_IMPORT_ERROR))

    params = module.params
    error = validate_cost(params["cost"])
    if error is None:
        error = validate_users(params["users"])
    if error is not None:
        module.fail_json(msg=error)

    result_plan = plan(params["users"], params["current"], params["cost"], params["regenerate"])

    # A new line must not contain a no_log input, or Ansible would hand back a masked, broken line: draw a new salt.
    for _attempt in range(_MAX_RESALTS):
        clashing = [name for name, line in result_plan.lines.items() if masked_values(line, module.no_log_values)]
        if not clashing:
            break
        for name in clashing:
            result_plan.resalt(name)

    result = _build_result(module, result_plan)
    # What the caller builds the file from must come back intact; a masked diff would merely look odd.
    functional = [result["users"], result["order"], result["lines"]]
    if masked_values(functional, module.no_log_values):
        module.fail_json(msg=_masking_message(params, functional))

    if params["cost"] > WARN_COST:
        module.warn(COST_WARNING % (params["cost"], WARN_COST))
    for warning in result_plan.warnings:
        module.warn(warning)
    module.exit_json(**result)


def _masking_message(params, result):
    """Name the offending inputs by index only."""
    culprits = []
    for index, user in enumerate(params["users"]):
        if masked_values(result, [user["password"]]):
            culprits.append("users[%d].password" % index)
    if params["current"] and masked_values(result, [params["current"]]):
        culprits.append("current")
    return (
        "%s occur%s inside the module's result (in a user name, an action or a new line), where Ansible would mask it "
        "with asterisks and corrupt the result; use a longer password"
        % (", ".join(culprits) or "a no_log value", "s" if len(culprits) <= 1 else "")
    )
