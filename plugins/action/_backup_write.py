# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the devpi_secrets role's encrypted copy in the controller process; see ``plugins/modules/_backup_write.py``."""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _flux_copy
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._backup import BackupError, manifests, write
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ValueFreeAction


class ActionModule(ValueFreeAction):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("file", "recipients", "copy", "namespace", "labels", "flux_dir"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        copy = args.get("copy") or {}
        path = args["file"]
        # `written`: the copy is as the plan wants it (also when nothing had to change); `error`: why not, value-free.
        # The role registers this task with failed_when: false (no_log) and checks both in the next task.
        result.update(
            changed=copy.get("action") in ("written", "updated"),
            file=path,
            action=copy.get("action"),
            written=False,
            error="",
        )
        flux_dir = args.get("flux_dir") or ""
        docs = manifests(
            copy.get("values") or {}, copy.get("types") or {}, args["namespace"], args.get("labels"), copy.get("stamps")
        )
        # The Flux-ready form (one sops file per Secret), decided from names only; written right after the copy, or
        # alone when the copy is unchanged but the folder lacks a file.
        flux = _flux_copy.plan(docs, flux_dir, copy.get("action"), copy.get("changes")) if flux_dir else None
        copy_changes = result["changed"]
        if flux is not None:
            result["flux"] = {"dir": flux_dir, "written": _flux_copy.written_names(flux), "removed": flux["remove"]}
            result["changed"] = copy_changes or bool(result["flux"]["written"] or flux["remove"])
        if not result["changed"] or self._play_context.check_mode:
            result["written"] = True
            return result
        recipients = args.get("recipients") or []
        try:
            if copy_changes:
                write(docs, recipients, path)
            if flux is not None:
                _flux_copy.write(docs, flux, recipients, flux_dir)
        except BackupError as error:
            result.update(failed=True, msg=str(error), error=str(error))
        else:
            result["written"] = True
        return result
