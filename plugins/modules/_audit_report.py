#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: _audit_report
short_description: "[INTERNAL] Write the devpi_secrets role's audit report files"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - With C(devpi_secrets_audit) and C(devpi_secrets_audit_report), the P(theedgeworks.devpi.devpi_secrets#role) role
    writes the report the M(theedgeworks.devpi._plan) step made (its C(audit.files)) - the JSON report and, beside it,
    the Prometheus textfile - in the controller process (an action plugin, no module launch). Internal to that role -
    its options follow the role and may change in any release.
  - Each file is written as a temporary file in its own folder and renamed over the file (node_exporter's textfile
    collector never reads half a file), mode 0644 - the files hold names, reason codes and ages, never a value. A
    file whose content is unchanged is left alone.
author:
  - The Edgeworks platform team (!UNKNOWN)
extends_documentation_fragment:
  - theedgeworks.devpi._attributes  # first: its support values win over the generic ones
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details:
      - Writes the files in check mode too - they are the audit's output, and an audit writes nothing else.
  diff_mode:
    support: none
options:
  files:
    description: The files to write, each C(path) (absolute, its folder exists) and C(content) (text).
    type: list
    elements: dict
    required: true
seealso:
  - module: theedgeworks.devpi._plan
"""

EXAMPLES = r"""
- name: Write the audit report and its Prometheus textfile (as the devpi_secrets role does)
  theedgeworks.devpi._audit_report:
    files: "{{ _devpi_secrets_plan.audit.files }}"
"""

RETURN = r"""
files:
  description: The paths written or found up to date.
  returned: success
  type: list
  elements: str
changed_files:
  description: The paths whose content changed.
  returned: success
  type: list
  elements: str
"""
