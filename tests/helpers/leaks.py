"""The forms a secret value can take in an output, to search for them (leak tests).

from helpers.leaks import forms_of
found = [label for label, text in forms_of([password, token]).items() if text in output]
"""

from __future__ import annotations

import base64


def forms_of(values, min_length: int = 8) -> dict[str, str]:
    """label -> text: each value (of at least min_length characters) plain, base64 and URL-safe base64."""
    out = {}
    for i, value in enumerate(v for v in values if v and len(v) >= min_length):
        raw = value.encode()
        for form, text in (
            ("plain", value),
            ("base64", base64.b64encode(raw).decode()),
            ("base64 unpadded", base64.b64encode(raw).decode().rstrip("=")),
            ("url-safe base64", base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        ):
            out[f"value {i} ({form})"] = text
    return out
