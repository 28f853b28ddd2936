"""Unit tests of plugins/module_utils/b64secret.py (no Ansible involved)."""

from __future__ import annotations

import base64
import secrets

import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils import b64secret
from ansible_collections.theedgeworks.devpi.plugins.module_utils.b64secret import (
    decide,
    decode,
    generate,
    repair,
    validate_b64,
)
from ansible_collections.theedgeworks.devpi.plugins.module_utils.fingerprint import fingerprint

# 32 bytes whose standard encoding contains both '+' and '/'.
PLUS_SLASH = bytes([0xFB, 0xEF, 0xFF] * 10 + [1, 2])
STD = base64.b64encode(PLUS_SLASH).decode()
URL = base64.urlsafe_b64encode(PLUS_SLASH).decode()
# 32 bytes whose encoding has neither '+' nor '/': valid in both alphabets.
NEUTRAL_BYTES = bytes(range(32))
NEUTRAL = base64.b64encode(NEUTRAL_BYTES).decode()


def test_fixture_values():
    assert "+" in STD and "/" in STD
    assert "-" in URL and "_" in URL
    assert not set("+/-_") & set(NEUTRAL)
    assert len(STD) == 44 and STD.endswith("=")


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
@pytest.mark.parametrize("nbytes", [1, 2, 3, 16, 24, 31, 32, 33, 64, 1024])
def test_generate_decodes_to_n_bytes(alphabet, nbytes):
    value = generate(nbytes, alphabet)
    assert len(value) == b64secret.encoded_length(nbytes)
    assert len(value) % 4 == 0  # always padded
    assert validate_b64(value, nbytes, alphabet)
    assert len(decode(value, alphabet)) == nbytes
    forbidden = "-_" if alphabet == "standard" else "+/"
    assert not set(forbidden) & set(value)


def test_generate_32_is_44_chars_and_random():
    values = {generate(32, "urlsafe") for _draw in range(50)}
    assert len(values) == 50
    assert all(len(v) == 44 and v.endswith("=") for v in values)


@pytest.mark.parametrize("nbytes", [0, -1, 1025, True, "32", None])
def test_generate_rejects_bad_sizes(nbytes):
    with pytest.raises(ValueError):
        generate(nbytes, "standard")


def test_unknown_alphabet():
    with pytest.raises(ValueError):
        generate(32, "base32")
    with pytest.raises(ValueError):
        validate_b64(STD, 32, "hex")


def test_validate_alphabets():
    assert validate_b64(STD, 32, "standard")
    assert not validate_b64(STD, 32, "urlsafe")
    assert validate_b64(URL, 32, "urlsafe")
    assert not validate_b64(URL, 32, "standard")
    assert validate_b64(NEUTRAL, 32, "standard") and validate_b64(NEUTRAL, 32, "urlsafe")


def test_validate_length_is_exact():
    assert not validate_b64(STD, 31, "standard")
    assert not validate_b64(STD, 33, "standard")
    assert validate_b64(base64.b64encode(bytes(16)).decode(), 16, "standard")
    assert not validate_b64(base64.b64encode(bytes(16)).decode(), 32, "standard")


@pytest.mark.parametrize(
    "bad",
    [
        STD + "\n",  # trailing newline
        " " + STD,
        STD[:20] + " " + STD[20:],
        STD[:20] + "\n" + STD[20:],
        STD[:-1] + "==",  # too much padding
        STD[:-1] + "A=",  # wrong length
        STD + "=",
        STD[:-1] + "===",
        "=" + STD[:-1],
        STD[:10] + "=" + STD[11:],  # padding in the middle
        STD[:-2] + "B=",  # 'B' sets unused bits: non-canonical
        "",
        "====",
        "A",
        STD[:-2] + "é=",
    ],
)
def test_validate_is_strict(bad):
    assert not validate_b64(bad, 32, "standard")
    assert not validate_b64(bad, 32, "urlsafe")


def test_non_canonical_trailing_bits_rejected():
    # b'\x00' encodes as 'AA=='; 'AB==' decodes to the same byte with non-zero unused bits.
    assert validate_b64("AA==", 1, "standard")
    assert not validate_b64("AB==", 1, "standard")


def test_unpadded_is_accepted_but_partial_padding_is_not():
    unpadded = STD.rstrip("=")
    assert len(unpadded) == 43
    assert validate_b64(unpadded, 32, "standard")
    assert validate_b64(secrets.token_urlsafe(32), 32, "urlsafe")
    # 1 byte: 'AA==' padded, 'AA' unpadded, 'AA=' partial.
    assert validate_b64("AA", 1, "standard")
    assert not validate_b64("AA=", 1, "standard")


def test_validate_non_str():
    assert not validate_b64(None, 32, "standard")
    assert not validate_b64(STD.encode(), 32, "standard")
    assert not validate_b64(12, 32, "standard")


def test_repair_maps_plus_and_slash_keeping_bytes():
    repaired = repair(STD, 32, "urlsafe")
    assert repaired == URL
    assert repaired == STD.replace("+", "-").replace("/", "_")
    assert base64.urlsafe_b64decode(repaired) == PLUS_SLASH


def test_repair_back_to_standard():
    assert repair(URL, 32, "standard") == STD


def test_repair_adds_padding():
    unpadded = STD.rstrip("=")
    assert repair(unpadded, 32, "urlsafe") == URL


def test_repair_returns_none_when_nothing_to_do_or_impossible():
    assert repair(URL, 32, "urlsafe") is None  # already valid
    assert repair(NEUTRAL, 32, "urlsafe") is None  # valid in both
    assert repair(STD, 31, "urlsafe") is None  # wrong size
    assert repair(STD + "\n", 32, "urlsafe") is None  # not strict
    mixed = STD.replace("+", "-", 1)  # both alphabets at once
    assert "/" in mixed and "-" in mixed
    assert repair(mixed, 32, "urlsafe") is None
    assert repair(mixed, 32, "standard") is None


def test_fingerprint_only_of_16_random_bytes_or_more():
    fp = fingerprint(STD)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 16
    assert fingerprint(STD, 12) == fp[: len("sha256:") + 12]
    short = base64.b64encode(bytes(8)).decode()
    assert b64secret.fingerprintable(STD, 32, "standard")
    assert not b64secret.fingerprintable(short, 8, "standard")
    assert not b64secret.fingerprintable("hunter2", 32, "standard")


def _fixed(value):
    return lambda nbytes, alphabet: value


NEW = base64.urlsafe_b64encode(bytes([7] * 32)).decode()


@pytest.mark.parametrize("mode", ["never", "fail", "full_idempotence", "always"])
@pytest.mark.parametrize("current", [None, ""])
def test_decide_generates_without_current(mode, current):
    d = decide(current, 32, "urlsafe", regenerate=mode, generator=_fixed(NEW))
    assert (d.action, d.valid, d.value, d.changed) == ("generate", False, NEW, True)


@pytest.mark.parametrize("mode", ["never", "fail", "full_idempotence"])
def test_decide_keeps_valid(mode):
    d = decide(URL, 32, "urlsafe", regenerate=mode, generator=_fixed(NEW))
    assert (d.action, d.valid, d.value, d.changed) == ("keep", True, None, False)


def test_decide_always_regenerates_valid():
    d = decide(URL, 32, "urlsafe", regenerate="always", generator=_fixed(NEW))
    assert (d.action, d.valid, d.value) == ("generate", True, NEW)


@pytest.mark.parametrize("mode", ["fail", "full_idempotence"])
def test_decide_repairs(mode):
    d = decide(STD, 32, "urlsafe", regenerate=mode, generator=_fixed(NEW))
    assert (d.action, d.valid, d.value, d.changed) == ("repair", False, URL, True)


def test_decide_no_repair_when_disabled():
    d = decide(STD, 32, "urlsafe", regenerate="full_idempotence", allow_repair=False, generator=_fixed(NEW))
    assert (d.action, d.value) == ("generate", NEW)
    d = decide(STD, 32, "urlsafe", regenerate="fail", allow_repair=False)
    assert d.action == "fail"
    assert "repair=true" in d.error
    assert STD not in d.error


def test_decide_never_keeps_invalid_with_warning():
    d = decide("garbage", 32, "urlsafe", regenerate="never", generator=_fixed(NEW))
    assert (d.action, d.valid, d.changed) == ("keep", False, False)
    assert "regenerate=never" in d.warning and "garbage" not in d.warning
    # repair does not apply with never
    d = decide(STD, 32, "urlsafe", regenerate="never")
    assert (d.action, d.valid) == ("keep", False)


def test_decide_always_ignores_repair():
    d = decide(STD, 32, "urlsafe", regenerate="always", generator=_fixed(NEW))
    assert (d.action, d.value) == ("generate", NEW)


def test_decide_fail_on_invalid():
    d = decide("not base64!", 32, "standard", regenerate="fail")
    assert d.action == "fail" and not d.changed
    assert "regenerate=fail" in d.error and "not base64!" not in d.error


def test_decide_full_idempotence_regenerates_invalid():
    d = decide(STD + "\n", 32, "standard", regenerate="full_idempotence", generator=_fixed(NEW))
    assert (d.action, d.valid, d.value) == ("generate", False, NEW)


def test_decide_unknown_mode():
    with pytest.raises(ValueError):
        decide(STD, 32, "standard", regenerate="partial_idempotence")
