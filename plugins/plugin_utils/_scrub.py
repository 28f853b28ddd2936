# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Make text from outside (API server, Keycloak, an exception) safe to print: known secrets out, length capped.

An admission webhook or policy can echo request fields in its refusal, and Keycloak or a library may quote what it
was sent. Every known secret value is replaced in every form it could take there - as given, standard and URL-safe
base64 with or without padding, each long line of a multi-line value (a PEM key), and each of these as written
inside a JSON string (by Python with or without ensure_ascii, by Go, with lower- or upper-case \\uXXXX) - before the
text is capped. A text cut at the cap that ends in the start of a form (MIN_LENGTH characters or more: the source
may have cut the value itself) loses that start too. No Ansible imports.
"""

from __future__ import annotations

import base64
import itertools

REDACTED = "<redacted>"
LIMIT = 300
MIN_LENGTH = 6  # shorter fragments would shred ordinary words; no secret of this collection is that short
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_string(value, ascii_only, html_safe, long_bf, upper_hex):
    """``value`` as a JSON encoder writes it between the quotes of a string.

    ``ascii_only``: every character outside printable ASCII as \\uXXXX (a surrogate pair beyond U+FFFF), as
    Python's ``ensure_ascii``; ``html_safe``: ``<``, ``>``, ``&``, U+2028 and U+2029 as \\uXXXX, as Go; ``long_bf``:
    backspace and form feed as \\u0008 and \\u000c, as Go before 1.22; ``upper_hex``: upper-case hex digits, as some
    Java encoders write them.
    """
    hex_format = "\\u%04X" if upper_hex else "\\u%04x"
    out = []
    for char in value:
        code = ord(char)
        if (html_safe and char in "<>&\u2028\u2029") or (long_bf and char in "\b\f"):
            out.append(hex_format % code)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or (ascii_only and code > 0x7E):
            if code > 0xFFFF:
                code -= 0x10000
                out.append(hex_format % (0xD800 | (code >> 10)) + hex_format % (0xDC00 | (code & 0x3FF)))
            else:
                out.append(hex_format % code)
        else:
            out.append(char)
    return "".join(out)


def forms(value):
    """The ways ``value`` (text) can appear in a message."""
    found = {value, value.strip()}
    raw = value.encode("utf-8", "surrogatepass")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        found.update((encoded, encoded.rstrip("=")))
    found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    for text in list(found):
        found.update(_json_string(text, *flags) for flags in itertools.product((False, True), repeat=4))
    return {form for form in found if len(form) >= MIN_LENGTH}


def _dangling(text, starts):
    """Index where ``text`` ends in the first MIN_LENGTH or more characters of one of ``starts``, or None."""
    for index in range(len(text) - MIN_LENGTH + 1):
        tail = text[index:]
        if any(start.startswith(tail) for start in starts):
            return index
    return None


def _cap(text, replaced, limit):
    """``text`` cut to ``limit`` characters, a start of a form in ``replaced`` left at the cut replaced too."""
    if len(text) <= limit:
        return text
    starts = {" ".join(form.split()) for form in replaced} | {REDACTED}  # as on one line; a cut marker is made whole
    body, marker = text[: max(limit - 3, 0)], ""
    while True:
        index = _dangling(body, starts)
        if index is None:
            return body + marker + "..."
        body, marker = body[: max(min(index, limit - 3 - len(REDACTED)), 0)], REDACTED


def scrub(text, secrets, limit=LIMIT):
    """``text`` on one line, every form of every value of ``secrets`` replaced, at most ``limit`` characters."""
    text = str(text)
    replace = set()
    for secret in secrets:
        if secret:
            replace |= forms(str(secret))
    for form in sorted(replace, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return _cap(" ".join(text.split()), replace, limit)
