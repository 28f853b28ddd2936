# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one fingerprint of this collection: ``sha256:`` and the first hex digits of a SHA-256 (no Ansible imports).

Only show it for values that cannot be found by trying candidates: at least 16 random bytes (see
``b64secret.fingerprintable``) or public material (a certificate). A hash of a value a person chose, or of anything
derived from one, lets an attacker test guesses against it.
"""

from __future__ import annotations

import hashlib


def fingerprint(value, hexchars=16):
    """``sha256:<hexchars hex digits>`` of ``value`` (bytes, or text as UTF-8), as ``printf %s V | sha256sum`` shows."""
    if not isinstance(value, bytes):
        value = value.encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(value).hexdigest()[:hexchars]
