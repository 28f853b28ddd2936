#!/usr/bin/python
# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: _backup_write
short_description: "[INTERNAL] Write the encrypted copy of the devpi_secrets role's generated values"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - The last write of the P(theedgeworks.devpi.devpi_secrets#role) role, after the Kubernetes writes, in the
    controller process (an action plugin). Internal to that role - its options follow the role and may change in any
    release.
  - Writes the copy the M(theedgeworks.devpi._plan) step decided (its C(backup)) when it must change - one Secret
    manifest per Secret holding generated values, annotated C(kustomize.toolkit.fluxcd.io/ssa=IfNotPresent) and with
    the values' age stamps (C(theedgeworks.devpi/generated-at), not encrypted - no value), as one
    multi-document YAML text encrypted by one C(sops) run to the age recipients (C(encrypted_regex) matching the keys
    C(data) and C(stringData)). The plaintext reaches C(sops) on standard input only; the encrypted file is written as
    a temporary file of mode 0600 in the same folder and renamed over the copy.
  - Never fails with text from outside; the failure message is made here and names the variable. Its arguments hold
    secrets - run it with C(no_log), register it and report a failure in a following task.
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
      - Writes nothing in check mode; C(changed) says whether it would.
  diff_mode:
    support: none
options:
  file:
    description: Path of the copy (resolved; its folder exists).
    type: str
    required: true
  recipients:
    description: The age public keys (C(age1...)) to encrypt to.
    type: list
    elements: str
    required: true
  copy:
    description:
      - The plan's C(backup) (C(action), C(values), C(types), C(stamps)); written only when C(action) is V(written) or
        V(updated).
    type: dict
    required: true
  namespace:
    description: The namespace the manifests name.
    type: str
    required: true
  labels:
    description: Labels of the manifests.
    type: dict
    default: {}
  flux_dir:
    description:
      - A folder for the Flux-ready form, written right after the copy (or alone, when the copy does not change but
        the folder lacks a file) - one file
        C(<secret>.sops.yaml) per manifest, each encrypted by its own C(sops) run (so that each decrypts alone, as
        Flux's kustomize-controller decrypts), and a C(kustomization.yaml) listing them. A Secret's file is written
        when the copy is new, when its values changed or when it is missing; a file the old C(kustomization.yaml)
        listed for a Secret no longer in the copy is removed. Made (mode 0700) when missing.
      - Empty - the default - writes no such folder.
    type: path
    default: ""
requirements:
  - The C(sops) binary (3.9 or later) on C(PATH), and the community.sops collection.
seealso:
  - module: theedgeworks.devpi._plan
  - plugin: theedgeworks.devpi._backup_read
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Keep the encrypted copy (as the devpi_secrets role does)
  theedgeworks.devpi._backup_write:
    file: /secure/devpi.sops.yaml
    recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    copy: "{{ _devpi_secrets_plan.backup }}"
    namespace: devpi
  register: _devpi_secrets_copy_written
  failed_when: false
  no_log: true
"""

RETURN = r"""
file:
  description: The copy's path.
  returned: always
  type: str
action:
  description: The plan's copy action (V(off), V(written), V(unchanged), V(updated)).
  returned: always
  type: str
flux:
  description: The Flux-ready form - its folder, the files written (in check mode - to be written) and removed.
  returned: when O(flux_dir) is set
  type: dict
  contains:
    dir:
      description: The folder.
      type: str
      returned: always
    written:
      description: Names of the files written, the Secret files first, then C(kustomization.yaml).
      type: list
      elements: str
      returned: always
    removed:
      description: Names of the files removed (Secrets no longer in the copy).
      type: list
      elements: str
      returned: always
"""
