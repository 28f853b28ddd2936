# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The devpi_secrets role's decide step in the controller process; see ``plugins/plugin_utils/_plan.py``."""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ValueFreeAction
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._plan import plan


class ActionModule(ValueFreeAction):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(
        ("table", "cluster", "supplied", "inputs", "rotate", "base_labels", "copy", "tls", "keycloak")
    )
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        decided = plan(
            args["table"],
            args["cluster"],
            args.get("supplied") or {},
            args["inputs"],
            list(args.get("rotate") or []),
            args.get("base_labels") or {},
            check_mode=self._play_context.check_mode,
            diff=self._play_context.diff,
            copy=args.get("copy") or None,
            tls=args.get("tls") or None,
            keycloak=args.get("keycloak") or None,
        )
        warnings = decided.pop("module_warnings", [])
        result.update(decided, changed=False)
        if warnings:
            result["warnings"] = warnings
        return result
