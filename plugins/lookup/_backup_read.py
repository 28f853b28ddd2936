# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _backup_read
short_description: "[INTERNAL] Read the encrypted copy of the devpi_secrets role's generated values, returning errors"
version_added: 3.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - Decrypts the copy the P(theedgeworks.devpi.devpi_secrets#role) role keeps of its generated values (a SOPS file
    of Secret manifests encrypted to age recipients) with the C(sops) binary on C(PATH), through community.sops'
    runner, in the controller process. The file is handed to C(sops) on standard input; nothing is written.
  - Internal to that role (its read phase); the result follows the role and may change in any release.
  - A missing file is an empty copy. A copy that does not decrypt (wrong or missing identity, damaged file) or is
    not one the role wrote does not raise; a value-free sentence naming the variable is returned in C(error), so
    that a task without C(no_log) can report it. The task that calls this lookup holds secrets and must run with
    C(no_log).
options:
  file:
    description: Path of the copy (already resolved); empty means the copy is off.
    type: str
    default: ""
  keyfile:
    description: The age identity file to decrypt with (C(SOPS_AGE_KEY_FILE)).
    type: str
    default: ""
requirements:
  - The C(sops) binary (3.9 or later) on C(PATH), and the community.sops collection.
seealso:
  - module: theedgeworks.devpi._backup_write
  - plugin: community.sops.sops
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Read the encrypted copy
  ansible.builtin.set_fact:
    copy: "{{ lookup('theedgeworks.devpi._backup_read', file='/secure/devpi.sops.yaml', keyfile='/secure/age.key') }}"
  no_log: true # holds the generated values
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    enabled:
      description: Whether a copy is kept (O(file) not empty).
      type: bool
    exists:
      description: Whether the file exists.
      type: bool
    values:
      description: The values by Secret and key (secrets).
      type: dict
    stamps:
      description:
        - The age stamps the copy keeps with the values, by Secret and key (C(at) or C(seen), C(by); no value).
          Absent when the file does not exist or cannot be read.
      type: dict
    error:
      description: Empty, or what went wrong, value-free.
      type: str
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._backup import BackupError, read


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path = self.get_option("file") or ""
        if not path:
            return [{"enabled": False, "exists": False, "values": {}, "error": ""}]
        try:
            found = read(path, self.get_option("keyfile") or None)
        except BackupError as error:
            return [{"enabled": True, "exists": True, "values": {}, "error": str(error)}]
        except Exception as error:  # noqa: BLE001 - any library error: its text may hold a value
            return [
                {
                    "enabled": True,
                    "exists": True,
                    "values": {},
                    "error": "Cannot read the copy %s (devpi_secrets_backup_file): %s in backup_read."
                    % (path, type(error).__name__),
                }
            ]
        return [dict(found, enabled=True, error="")]
