# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure helpers for base64-encoded random secrets (no Ansible imports).

Used by the ``theedgeworks.devpi.random_b64`` module; importable and testable on its own.

Validity rules (strict, see ``decode``):

* only the 64 characters of the alphabet, optionally followed by the ``=`` padding;
* either the exact standard padding (``len % 4 == 0``) or no ``=`` at all (unpadded, as made by
  ``secrets.token_urlsafe``); wrong or partial padding is invalid;
* no whitespace, no line break, the canonical encoding (unused trailing bits are zero);
* decodes to exactly the requested number of bytes.

Generated and repaired values always carry the standard ``=`` padding.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

ALPHABETS = ("standard", "urlsafe")
MIN_BYTES = 1
MAX_BYTES = 1024

_CHARS = {
    "standard": re.compile(r"\A[A-Za-z0-9+/]*={0,2}\Z"),
    "urlsafe": re.compile(r"\A[A-Za-z0-9_-]*={0,2}\Z"),
}


def _check_alphabet(alphabet):
    if alphabet not in ALPHABETS:
        raise ValueError("alphabet must be one of %s, got %r" % (", ".join(ALPHABETS), alphabet))


def other_alphabet(alphabet):
    """Return the alphabet that is not ``alphabet``."""
    _check_alphabet(alphabet)
    return "urlsafe" if alphabet == "standard" else "standard"


def encode(data, alphabet):
    """Encode ``data`` (bytes) in ``alphabet`` with standard ``=`` padding; returns str."""
    _check_alphabet(alphabet)
    if alphabet == "urlsafe":
        return base64.urlsafe_b64encode(data).decode("ascii")
    return base64.b64encode(data).decode("ascii")


def encoded_length(nbytes):
    """Length of the padded encoding of ``nbytes`` bytes (44 for 32)."""
    return 4 * ((nbytes + 2) // 3)


def decode(value, alphabet):
    """Strictly decode ``value`` in ``alphabet``.

    Returns the bytes, or ``None`` when ``value`` is not a strict, canonical encoding in that alphabet
    (padded exactly, or not padded at all).
    """
    _check_alphabet(alphabet)
    if not isinstance(value, str) or not value or not _CHARS[alphabet].match(value):
        return None
    if "=" in value:
        if len(value) % 4:
            return None
        padded = value
    else:
        if len(value) % 4 == 1:
            return None
        padded = value + "=" * (-len(value) % 4)
    raw = padded.encode("ascii")
    if alphabet == "urlsafe":
        # The character check above guarantees no '+' or '/' slip through the translation.
        raw = raw.translate(bytes.maketrans(b"-_", b"+/"))
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical encodings (non-zero unused bits): they decode, but do not round-trip.
    if encode(data, alphabet) != padded:
        return None
    return data


def validate_b64(value, nbytes, alphabet):
    """True when ``value`` is a strict encoding of exactly ``nbytes`` bytes in ``alphabet``."""
    data = decode(value, alphabet)
    return data is not None and len(data) == nbytes


def generate(nbytes, alphabet):
    """Base64 (padded) of ``nbytes`` cryptographically random bytes."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or not MIN_BYTES <= nbytes <= MAX_BYTES:
        raise ValueError("nbytes must be an integer from %d to %d" % (MIN_BYTES, MAX_BYTES))
    return encode(secrets.token_bytes(nbytes), alphabet)


def repair(value, nbytes, alphabet):
    """Re-encode a value written in the *other* alphabet.

    When ``value`` is not valid in ``alphabet`` but is a strict encoding of exactly ``nbytes`` bytes in the other
    alphabet, return the same bytes encoded (padded) in ``alphabet``; otherwise return ``None``.
    Example: a standard value containing ``+`` or ``/`` becomes URL-safe by mapping ``+`` to ``-`` and ``/`` to ``_``.
    """
    if validate_b64(value, nbytes, alphabet):
        return None
    data = decode(value, other_alphabet(alphabet))
    if data is None or len(data) != nbytes:
        return None
    return encode(data, alphabet)


# Below this many random bytes a fingerprint would let anyone find the value by trying all of them.
MIN_FINGERPRINT_BYTES = 16


def fingerprintable(value, nbytes, alphabet):
    """Whether showing a fingerprint of a value *generated here* is safe: valid and at least 16 random bytes.

    Never ask it about a value that was given or found: whoever made that one may have chosen it, and a SHA-256
    prefix would let anyone find it by trying candidates.
    """
    return nbytes >= MIN_FINGERPRINT_BYTES and validate_b64(value, nbytes, alphabet)


REGENERATE_MODES = ("never", "fail", "full_idempotence", "always")


class Decision:
    """Outcome of ``decide``: what to do with the current value."""

    def __init__(self, action, valid, value=None, error=None, warning=None):
        self.action = action  # 'keep', 'generate', 'repair' or 'fail'
        self.valid = valid
        self.value = value  # the new value for 'generate' and 'repair'
        self.error = error
        self.warning = warning

    @property
    def changed(self):
        return self.action in ("generate", "repair")


def decide(current, nbytes, alphabet, regenerate="full_idempotence", allow_repair=True, generator=generate):
    """Decide between keeping, repairing and generating. ``current`` ``None`` or ``""`` means no current value.

    * ``always``: generate a new value.
    * ``never``: keep any current value, even an invalid one (with a warning); generate only when there is none.
    * ``fail``: keep a valid value, repair a repairable one (when ``allow_repair``), otherwise fail.
    * ``full_idempotence``: keep a valid value, repair a repairable one (when ``allow_repair``), otherwise generate.
    """
    if regenerate not in REGENERATE_MODES:
        raise ValueError("regenerate must be one of %s" % ", ".join(REGENERATE_MODES))
    present = current is not None and current != ""
    valid = present and validate_b64(current, nbytes, alphabet)

    if regenerate == "always" or not present:
        return Decision("generate", valid, value=generator(nbytes, alphabet))
    if valid:
        return Decision("keep", True)
    if regenerate == "never":
        return Decision(
            "keep",
            False,
            warning="current is not the %s base64 of %d bytes; kept because regenerate=never" % (alphabet, nbytes),
        )
    if allow_repair:
        repaired = repair(current, nbytes, alphabet)
        if repaired is not None:
            return Decision("repair", False, value=repaired)
    if regenerate == "fail":
        hint = ""
        if repair(current, nbytes, alphabet) is not None:
            hint = " (it is valid %s base64: set repair=true to re-encode it)" % other_alphabet(alphabet)
        return Decision(
            "fail",
            False,
            error="current is not the %s base64 of %d bytes (length %d)%s, and regenerate=fail"
            % (alphabet, nbytes, len(current), hint),
        )
    return Decision("generate", False, value=generator(nbytes, alphabet))
