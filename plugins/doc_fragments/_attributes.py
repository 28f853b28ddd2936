# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The attributes every module of this collection shares: an action plugin of the same name runs it in the
    # controller process. Used with ansible.builtin.action_common_attributes and its .flow (their descriptions);
    # each module adds check_mode and diff_mode.
    DOCUMENTATION = r"""
attributes:
  action:
    support: full
    details:
      - An action plugin of the same name runs the module in the controller process, whatever the task's host and
        connection, without starting a module (it needs nothing from the target and writes nothing anywhere).
  async:
    support: none
  bypass_host_loop:
    support: none
  platform:
    support: full
    platforms: posix
    details:
      - Runs on the controller.
"""
