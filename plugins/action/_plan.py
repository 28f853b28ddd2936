# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The devpi_secrets role's validate, read and decide steps in one task, in the controller process.

validate (``plugin_utils/_inputs.py``) -> read Keycloak (``plugin_utils/_keycloak_read.py``, decided by
``_keycloak_client.py``) -> read the cluster and the encrypted copy (the ``_cluster_state`` and ``_backup_read``
lookups, called in-process) and the TLS files -> decide (``plugin_utils/_plan.py``). Each step runs only when the ones
before it found no problem. The result holds values (the task runs with ``no_log``) and never fails: what stops the
run is in ``problems``, value-free, and the role's next task reports it.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ValueFreeAction
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._inputs import check, read_options
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._plan import run_plan


class ActionModule(ValueFreeAction):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("table", "base_labels", "pass", "earlier", "argument_spec"))
    _requires_connection = False

    def _lookup(self, name, task_vars, **options):
        found = lookup_loader.get(name, loader=self._loader, templar=self._templar)
        if found is None:
            raise AnsibleError("the lookup %s is not installed" % name)
        return found.run([], task_vars, **options)[0]

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        table = args["table"]
        spec = args.get("argument_spec") or os.path.join(task_vars.get("role_path") or "", "meta", "argument_specs.yml")
        options = read_options(spec)
        # The role's variables by the names of its argument spec (defaults included), templated: the one list.
        given = self._templar.template({name: task_vars[name] for name in options if name in task_vars})
        checked = check(
            options,
            given,
            [row["name"] for row in table if row.get("rotatable")],
            [row["name"] for row in table],
            task_vars.get("playbook_dir") or os.getcwd(),
        )
        decided = run_plan(
            table,
            checked,
            args.get("base_labels") or {},
            pass_number=int(args.get("pass") or 1),
            earlier=args.get("earlier") or {},
            read_cluster=lambda **options: self._lookup("theedgeworks.devpi._cluster_state", task_vars, **options),
            read_copy=lambda **options: self._lookup("theedgeworks.devpi._backup_read", task_vars, **options),
            check_mode=self._play_context.check_mode,
            diff=self._play_context.diff,
        )
        result.update(decided, changed=False)
        return result
