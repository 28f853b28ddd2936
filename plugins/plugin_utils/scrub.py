# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make text from outside (API server, Keycloak, an exception) safe to print: known secrets out, length capped.

An admission webhook or policy can echo request fields in its refusal, and Keycloak or a library may quote what it
was sent. Every known secret value is replaced in every form it could take there - as given, standard and URL-safe
base64 with or without padding, and each long line of a multi-line value (a PEM key) - before the text is shown.
No Ansible imports.
"""

from __future__ import annotations

import base64

REDACTED = "<redacted>"
LIMIT = 300
MIN_LENGTH = 6  # shorter fragments would shred ordinary words; no secret of this collection is that short


def forms(value):
    """The ways ``value`` (text) can appear in a message."""
    found = {value, value.strip()}
    raw = value.encode("utf-8", "surrogatepass")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        found.update((encoded, encoded.rstrip("=")))
    found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    return {form for form in found if len(form) >= MIN_LENGTH}


def scrub(text, secrets, limit=LIMIT):
    """``text`` on one line, every form of every value of ``secrets`` replaced, at most ``limit`` characters."""
    text = str(text)
    replace = set()
    for secret in secrets:
        if secret:
            replace |= forms(str(secret))
    for form in sorted(replace, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
