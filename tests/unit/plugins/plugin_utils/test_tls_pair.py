"""TLS pair checks: every way a pair can be unusable for ingress-nginx is named, and no key material is printed."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._tls import check_pair, covers
from helpers.tools import pki

HOST = "pypi.theedgeworks.ai"


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca()


def check(cert, key, host=HOST, days=30, now=None):
    return check_pair(str(cert), str(key), host, days, "CERT_VAR", "KEY_VAR", "HOST_VAR", now=now)


def test_good_pair_has_public_facts_only(ca, tmp_path):
    cert, key = pki.write_pair(tmp_path, pki.issue_leaf(ca, HOST))
    result = check(cert, key, days=0)  # test leaves live a few days: no expiry warning wanted here
    assert result.problems == [] and result.warnings == []
    assert result.facts["dns_names"] == [HOST]
    assert result.facts["sha256"].startswith("sha256:") and len(result.facts["sha256"]) == 71


@pytest.mark.parametrize(
    "maker,expected",
    [
        (pki.mismatched_pair, "KEY_VAR (%s) is not the key of CERT_VAR"),
        (pki.other_host_leaf, "does not cover HOST_VAR 'pypi.theedgeworks.ai'"),
        (pki.expired_leaf, "expired on"),
        (pki.not_yet_valid_leaf, "is not valid yet"),
    ],
)
def test_unusable_pairs_are_named(ca, tmp_path, maker, expected):
    cert, key = pki.write_pair(tmp_path, maker(ca))
    (problem,) = check(cert, key).problems
    assert (expected % key if "%s" in expected else expected) in problem
    assert key.read_text().splitlines()[1] not in problem


def test_unreadable_and_wrong_files(ca, tmp_path):
    cert, key = pki.write_pair(tmp_path, pki.issue_leaf(ca, HOST))
    missing = check(tmp_path / "nope.crt", key).problems
    assert missing == [
        f"CERT_VAR ({tmp_path / 'nope.crt'}) is not a readable PEM certificate: the file is missing "
        "or unreadable: No such file or directory."
    ]
    (tmp_path / "dir").mkdir()
    assert "it is a directory" in check(cert, tmp_path / "dir").problems[0]
    key_as_cert = check(key, key).problems
    assert "not a readable PEM certificate" in key_as_cert[0]
    garbage = tmp_path / "garbage.key"
    garbage.write_text(
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all, but secret-looking\n-----END PRIVATE KEY-----\n"
    )
    (problem,) = check(cert, garbage).problems
    assert "not a readable, unencrypted PEM private key" in problem and "secret-looking" not in problem


def test_expiry_warning(ca, tmp_path):
    cert, key = pki.write_pair(tmp_path, pki.issue_leaf(ca, HOST))
    now = datetime.datetime.now(datetime.timezone.utc)
    not_after = datetime.datetime.strptime(check(cert, key).facts["not_after"], "%Y-%m-%dT%H:%M:%SZ")
    days_left = (not_after.replace(tzinfo=datetime.timezone.utc) - now).days
    assert check(cert, key, days=days_left + 1).warnings
    assert not check(cert, key, days=max(days_left - 1, 0)).warnings


def test_wildcards_cover_one_label():
    assert covers(["*.theedgeworks.ai"], HOST)
    assert not covers(["*.ai"], HOST)
    assert covers([HOST], HOST.upper())
    assert not covers([], HOST)


def test_encrypted_key_is_named(ca, tmp_path):
    from cryptography.hazmat.primitives import serialization

    leaf = pki.issue_leaf(ca, HOST)
    cert, key = pki.write_pair(tmp_path, leaf)
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    os.chmod(key, 0o600)
    assert "it is encrypted" in check(cert, key).problems[0]


@pytest.mark.parametrize("label", ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_private_key_in_the_certificate_file_is_refused(ca, tmp_path, label):
    # The certificate goes to tls.crt, which consumers read freely: a key written into that file would leak with it.
    cert, key = pki.write_pair(tmp_path, pki.issue_leaf(ca, HOST))
    body = key.read_text().splitlines()[1]
    cert.write_text(cert.read_text() + f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    (problem,) = check(cert, key, days=0).problems
    assert problem.startswith(f"CERT_VAR ({cert}) ") and body not in problem
