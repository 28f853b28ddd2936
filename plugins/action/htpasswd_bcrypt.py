# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the ``theedgeworks.devpi.htpasswd_bcrypt`` module in the controller process (no module launch)."""

from __future__ import annotations

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd_bcrypt import ARGUMENT_SPEC, run
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def body(self, module):
        run(module)
