"""Scrubbing text from outside: every form of every known secret goes, the rest stays readable and short."""

from __future__ import annotations

import base64

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.scrub import REDACTED, scrub

SECRET = "s3cr3t-value-\u00e9-42"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAAAA\n-----END PRIVATE KEY-----\n"


def test_every_form_is_replaced():
    raw = SECRET.encode()
    forms = [
        SECRET,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]
    for form in forms:
        out = scrub(f"denied: data={form}; retry", [SECRET])
        assert form not in out and REDACTED in out and out.startswith("denied: data=")


def test_long_lines_of_a_multi_line_value_are_replaced_short_ones_kept():
    out = scrub("bad key line MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg in AAAA", [KEY])
    assert "MIGHAgEAMBM" not in out and "AAAA" in out


def test_capped_on_one_line():
    out = scrub("line one\n" + "x " * 500, [])
    assert "\n" not in out and len(out) == 300 and out.endswith("...")
    assert scrub("nothing secret here", ["", None]) == "nothing secret here"
