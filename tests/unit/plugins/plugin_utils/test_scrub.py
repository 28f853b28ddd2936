"""Scrubbing text from outside: every form of every known secret goes, the rest stays readable and short."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._scrub import LIMIT, MIN_LENGTH, REDACTED, scrub

SECRET = "pa\u00ff\u00fess-\u00e9-42"  # non-ASCII; its base64 holds "+" (URL-safe: "-") and padding
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAAAA\n-----END PRIVATE KEY-----\n"
ODD = 'q"uo\\te\t<&>\u00e9\x01\u2028-end'  # quote, backslash, control characters, HTML-unsafe, U+2028


def _b64(value, encode, pad=True):
    text = encode(value.encode()).decode()
    return text if pad else text.rstrip("=")


def _json(value, ensure_ascii):
    return json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]


def _go_json(value):  # Go's encoding/json (the API server): HTML-unsafe characters and U+2028 as \uXXXX
    text = _json(value, False)
    for char in "<>&\u2028":
        text = text.replace(char, "\\u%04x" % ord(char))
    return text


FORMS = {
    "plain": (SECRET, SECRET),
    "plain multi-line": (KEY, KEY),
    "base64": (SECRET, _b64(SECRET, base64.b64encode)),
    "base64 unpadded": (SECRET, _b64(SECRET, base64.b64encode, pad=False)),
    "url-safe base64": (SECRET, _b64(SECRET, base64.urlsafe_b64encode)),
    "url-safe base64 unpadded": (SECRET, _b64(SECRET, base64.urlsafe_b64encode, pad=False)),
    "first line": (KEY, KEY.splitlines()[0]),
    "long line": (KEY, KEY.splitlines()[1]),
    "last line": (KEY, KEY.splitlines()[3]),
    "JSON multi-line": (KEY, _json(KEY, True)),
    "JSON ensure_ascii": (SECRET, _json(SECRET, True)),
    "JSON ensure_ascii escapes": (ODD, _json(ODD, True)),
    "JSON not ensure_ascii escapes": (ODD, _json(ODD, False)),
    "JSON of Go": (ODD, _go_json(ODD)),
    "JSON upper-case \\uXXXX": (SECRET, re.sub(r"u00(..)", lambda m: "u00" + m.group(1).upper(), _json(SECRET, True))),
}


def test_the_forms_differ():
    forms = [form for _label, form in FORMS.values()]
    assert len(set(forms)) == len(forms)  # else a case above proves nothing the others do not
    assert all(len(form) > MIN_LENGTH + 2 for form in forms)


@pytest.mark.parametrize("secret,form", FORMS.values(), ids=FORMS.keys())
def test_every_form_is_replaced(secret, form):
    assert scrub(f"denied: data={form}; retry", [secret]) == f"denied: data={REDACTED}; retry"
    # The text (already cut by whoever wrote it) holds the form but its last character, and the cap cuts into it:
    # what is left of the form at the end must not survive.
    head = "denied: data=" + "y" * (LIMIT - 3 - len("denied: data=") - (MIN_LENGTH + 1))
    out = scrub(head + form[:-1] + "; retry", [secret])
    assert len(out) <= LIMIT and REDACTED in out and out.startswith("denied: data=yyyy")
    assert " ".join(form.split())[:MIN_LENGTH] not in out


def test_long_lines_of_a_multi_line_value_are_replaced_short_ones_kept():
    out = scrub("bad key line MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg in AAAA", [KEY])
    assert "MIGHAgEAMBM" not in out and "AAAA" in out


def test_capped_on_one_line():
    out = scrub("line one\n" + "x " * 500, [])
    assert "\n" not in out and len(out) == 300 and out.endswith("...")
    assert scrub("nothing secret here", ["", None]) == "nothing secret here"
