"""Tests of the random_b64 module, run through main() as Ansible runs it."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils.b64secret import validate_b64
from ansible_collections.theedgeworks.devpi.plugins.modules import random_b64


def std_with_plus_slash():
    """A random 32-byte standard value that contains '+' or '/' (the oauth2-proxy failure case)."""
    while True:
        value = base64.b64encode(secrets.token_bytes(32)).decode()
        if "+" in value or "/" in value:
            return value


def fp(value):
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def test_generates_by_default(run_module):
    out = run_module(random_b64.main, {})
    r = out.result
    assert out.rc == 0 and not r.get("failed")
    assert r["changed"] and r["generated"] and not r["repaired"] and not r["valid"]
    assert len(r["value"]) == 44 and validate_b64(r["value"], 32, "standard")
    assert r["fingerprint"] == fp(r["value"])
    assert "diff" not in r


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
@pytest.mark.parametrize("num_bytes", [1, 16, 24, 32, 100, 1024])
def test_generate_sizes(run_module, alphabet, num_bytes):
    r = run_module(random_b64.main, {"num_bytes": num_bytes, "alphabet": alphabet}).result
    assert validate_b64(r["value"], num_bytes, alphabet)
    assert r["value"].endswith("=") == (num_bytes % 3 != 0)


@pytest.mark.parametrize("num_bytes", [0, -5, 1025])
def test_num_bytes_range(run_module, num_bytes):
    out = run_module(random_b64.main, {"num_bytes": num_bytes})
    assert out.rc == 1 and out.result["failed"]
    assert "num_bytes must be from 1 to 1024" in out.result["msg"]


def test_bad_choices_fail_cleanly(run_module):
    out = run_module(random_b64.main, {"alphabet": "hex"})
    assert out.result["failed"] and "alphabet" in out.result["msg"]
    out = run_module(random_b64.main, {"regenerate": "partial_idempotence"})
    assert out.result["failed"] and "regenerate" in out.result["msg"]


@pytest.mark.parametrize("mode", ["never", "fail", "full_idempotence"])
def test_keeps_valid_current(run_module, no_secret_in, mode):
    current = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    out = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe", "regenerate": mode}, diff=True)
    r = out.result
    assert (r["changed"], r["valid"], r["generated"], r["repaired"]) == (False, True, False, False)
    assert "value" not in r
    # No fingerprint, no length of a value the module did not generate: it may have been chosen by a person.
    assert "fingerprint" not in r
    assert r["diff"] == {"before": {"value": "<present>"}, "after": {"value": "<kept>"}}
    no_secret_in(out, [current])


def test_always_regenerates(run_module, no_secret_in):
    current = base64.b64encode(secrets.token_bytes(32)).decode()
    out = run_module(random_b64.main, {"current": current, "regenerate": "always"}, diff=True)
    r = out.result
    assert (r["changed"], r["valid"], r["generated"], r["repaired"]) == (True, True, True, False)
    assert r["value"] != current and validate_b64(r["value"], 32, "standard")
    assert r["diff"]["before"]["value"] == "<present>"
    assert r["diff"]["after"]["value"] == fp(r["value"]) + " (generated)"
    no_secret_in(out, [current])


def test_regenerates_invalid_with_full_idempotence(run_module, no_secret_in):
    current = base64.b64encode(secrets.token_bytes(32)).decode() + "\n"
    out = run_module(random_b64.main, {"current": current})
    r = out.result
    assert (r["changed"], r["valid"], r["generated"], r["repaired"]) == (True, False, True, False)
    assert validate_b64(r["value"], 32, "standard")
    no_secret_in(out, [current, current.strip()])


def test_wrong_size_is_invalid(run_module):
    current = base64.b64encode(secrets.token_bytes(16)).decode()
    r = run_module(random_b64.main, {"current": current}).result
    assert r["generated"] and not r["valid"]


def test_fail_mode(run_module, no_secret_in):
    current = "this is not base64 at all, and long enough"
    out = run_module(random_b64.main, {"current": current, "regenerate": "fail"})
    assert out.rc == 1 and out.result["failed"]
    assert "current" in out.result["msg"] and "regenerate=fail" in out.result["msg"]
    assert "value" not in out.result
    no_secret_in(out, [current])


def test_never_keeps_invalid_and_warns(run_module, no_secret_in):
    current = "this is not base64 at all, and long enough"
    out = run_module(random_b64.main, {"current": current, "regenerate": "never"})
    r = out.result
    assert (r["changed"], r["valid"], r["generated"], r["repaired"]) == (False, False, False, False)
    assert "value" not in r
    assert any("regenerate=never" in w for w in out.warnings)
    no_secret_in(out, [current])


@pytest.mark.parametrize("mode", ["fail", "full_idempotence"])
def test_repair_standard_to_urlsafe(run_module, no_secret_in, mode):
    current = std_with_plus_slash()
    out = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe", "regenerate": mode}, diff=True)
    r = out.result
    assert (r["changed"], r["valid"], r["generated"], r["repaired"]) == (True, False, False, True)
    assert r["value"] == current.replace("+", "-").replace("/", "_")
    assert base64.urlsafe_b64decode(r["value"]) == base64.b64decode(current)
    assert "fingerprint" not in r  # the same bytes as before: not generated here
    assert r["diff"] == {"before": {"value": "<present>"}, "after": {"value": "<re-encoded, same bytes>"}}
    no_secret_in(out, [current])


def test_repair_unpadded_adds_padding(run_module):
    current = std_with_plus_slash().rstrip("=")
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe"}).result
    assert r["repaired"] and r["value"].endswith("=")
    assert base64.urlsafe_b64decode(r["value"]) == base64.b64decode(current + "=")


def test_unpadded_valid_value_is_kept(run_module):
    current = secrets.token_urlsafe(32)
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe"}).result
    assert r["valid"] and not r["changed"] and "value" not in r


def test_repair_disabled(run_module):
    current = std_with_plus_slash()
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe", "repair": False}).result
    assert r["generated"] and not r["repaired"] and r["value"] != current.replace("+", "-").replace("/", "_")
    out = run_module(
        random_b64.main, {"current": current, "alphabet": "urlsafe", "repair": False, "regenerate": "fail"}
    )
    assert out.result["failed"] and "repair=true" in out.result["msg"]


def test_repair_does_not_apply_to_never_and_always(run_module):
    current = std_with_plus_slash()
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe", "regenerate": "never"}).result
    assert not r["changed"] and not r["valid"] and not r["repaired"]
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe", "regenerate": "always"}).result
    assert r["generated"] and not r["repaired"]
    assert base64.urlsafe_b64decode(r["value"]) != base64.b64decode(current)


def test_neutral_standard_value_is_valid_urlsafe(run_module):
    while True:
        current = base64.b64encode(secrets.token_bytes(32)).decode()
        if "+" not in current and "/" not in current:
            break
    r = run_module(random_b64.main, {"current": current, "alphabet": "urlsafe"}).result
    assert r["valid"] and not r["changed"]


def test_empty_current_counts_as_absent(run_module):
    r = run_module(random_b64.main, {"current": "", "regenerate": "never"}).result
    assert r["generated"] and not r["valid"] and "value" in r


@pytest.mark.parametrize(
    ("current", "changed"),
    [(None, True), ("valid", False), ("repairable", True), ("invalid", True)],
)
def test_check_mode_predicts_and_returns(run_module, current, changed):
    values = {
        None: None,
        "valid": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "repairable": std_with_plus_slash(),
        "invalid": "x" * 44 + "!",
    }
    args = {"alphabet": "urlsafe"}
    if values[current] is not None:
        args["current"] = values[current]
    normal = run_module(random_b64.main, args).result
    check = run_module(random_b64.main, args, check_mode=True).result
    for key in ("changed", "valid", "generated", "repaired"):
        assert normal[key] == check[key]
    assert check["changed"] is changed
    assert ("value" in check) is changed
    if current == "repairable":
        assert check["value"] == normal["value"]


def test_diff_without_current(run_module):
    r = run_module(random_b64.main, {}, diff=True).result
    assert r["diff"]["before"] == {"value": "<absent>"}
    assert r["diff"]["after"] == {"value": fp(r["value"]) + " (generated)"}
    assert r["value"] not in str(r["diff"])


def test_short_invalid_current_never_masks_the_new_value(run_module):
    # "A" occurs in about half of all 44-character values: the module must draw again, not return "********".
    for _attempt in range(10):
        out = run_module(random_b64.main, {"current": "A"})
        r = out.result
        assert "A" not in r["value"] and "*" not in r["value"]
        assert validate_b64(r["value"], 32, "standard")


def test_current_inside_every_output_fails_cleanly(run_module):
    # "=" is in every padded 32-byte value and cannot be avoided by drawing again.
    out = run_module(random_b64.main, {"current": "="})
    assert out.rc == 1 and out.result["failed"]
    assert "Ansible would mask it" in out.result["msg"]
