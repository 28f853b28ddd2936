"""devpi-tls → nginx: the pair is served for pypi.theedgeworks.ai and verifies against the CA."""

import pytest

from helpers.tools import pki
from tests.e2e.drivers import nginx
from tests.e2e.drivers.proc import CheckFailed

pytestmark = pytest.mark.e2e


def test_nginx_serves_tls_pair(secret_set, nginx_bin, tmp_path, report):
    result = nginx.check_tls_nginx(secret_set.tls_crt, secret_set.tls_key, secret_set.ca_pem, tmp_path)
    report(f"devpi-tls → nginx [{secret_set.source}]", result)


def test_pki_helpers_bad_pairs(nginx_bin, tmp_path):
    """The hardening helpers make what they say, judged by real nginx and Python ssl."""
    ca = pki.make_ca()
    good = pki.issue_leaf(ca)
    assert pki.key_matches_cert(good)
    ok, err = nginx.nginx_accepts_pair(good.cert_pem, good.key_pem, tmp_path / "good")
    assert ok, err
    bad = pki.mismatched_pair(ca)
    assert not pki.key_matches_cert(bad)
    ok, err = nginx.nginx_accepts_pair(bad.cert_pem, bad.key_pem, tmp_path / "bad")
    assert not ok and "key values mismatch" in err

    # Expired / other-host / self-signed certs: nginx serves them, clients refuse them.
    for name, pair, reason in (
        ("expired", pki.expired_leaf(ca), "expired"),
        ("other-host", pki.other_host_leaf(ca), "Hostname mismatch"),
        ("self-signed", pki.self_signed_leaf(), "self-signed certificate"),
        ("untrusted-ca", pki.untrusted_ca_leaf(), "unable to get local issuer"),
    ):
        with pytest.raises(CheckFailed) as ei:
            nginx.check_tls_nginx(pair.cert_pem, pair.key_pem, ca.cert_pem, tmp_path / name)
        # the failure must come from the client's certificate verification, not from nginx
        assert "refused nginx's cert" in str(ei.value) and reason.lower() in str(ei.value).lower(), str(ei.value)
