# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the devpi_secrets role's audit report files in the controller process; see
``plugins/modules/_audit_report.py``."""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._audit import write_files
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ValueFreeAction


class ActionModule(ValueFreeAction):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files",))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        files = list(self._task.args.get("files") or [])
        # Written in check mode too: the report is what an audit is run for, and it holds no value.
        try:
            changed = write_files(files)
        except OSError as error:
            result.update(failed=True, msg="Cannot write the audit report (devpi_secrets_audit_report): %s" % error)
            return result
        result.update(changed=bool(changed), files=[item["path"] for item in files], changed_files=changed)
        return result
