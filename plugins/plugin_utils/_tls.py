# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Check a TLS certificate and key pair on the controller, as ingress-nginx will need them (no Ansible imports).

``kubectl create secret tls`` only checks that the two form a pair, and ingress-nginx silently serves its fake
certificate when the pair does not match or the certificate does not cover the host, so everything is checked here,
before any write. Messages name the file by the caller's label and never contain key material.
"""

from __future__ import annotations

import datetime
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by check_inputs as a missing library
    HAS_CRYPTOGRAPHY = False

from ansible_collections.theedgeworks.devpi.plugins.module_utils.fingerprint import fingerprint

# Any flavour of PEM private key block: PRIVATE KEY, RSA/EC/DSA/OPENSSH PRIVATE KEY, ENCRYPTED PRIVATE KEY.
_PRIVATE_KEY_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


class TlsCheck:
    """Outcome of ``check_pair``: ``problems`` (error sentences), ``warnings`` and public ``facts``."""

    def __init__(self):
        self.problems = []
        self.warnings = []
        self.facts = {}


def _read(path):
    """(bytes, None) or (None, reason) for a file that cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(), None
    except IsADirectoryError:
        return None, "it is a directory"
    except OSError as exc:
        return None, "the file is missing or unreadable: %s" % (exc.strerror or exc.__class__.__name__)


def _utc(cert, attr):
    value = getattr(cert, attr + "_utc", None)  # cryptography >= 42
    if value is None:
        value = getattr(cert, attr).replace(tzinfo=datetime.timezone.utc)
    return value


def dns_names(cert):
    """Lower-case DNS names of the certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in san.get_values_for_type(x509.DNSName)]


def covers(names, host):
    """Whether one of ``names`` matches ``host`` (a wildcard matches exactly one left-most label)."""
    host = host.lower()
    parent = host.split(".", 1)[1] if "." in host else ""
    return host in names or (parent != "" and "*." + parent in names)


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_pair(cert_path, key_path, host, warn_days, cert_label, key_label, host_label, now=None):
    """Read and check the pair; every problem is a full sentence naming the variables by their labels."""
    result = TlsCheck()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cert_name = "%s (%s)" % (cert_label, cert_path)
    key_name = "%s (%s)" % (key_label, key_path)

    cert_pem, reason = _read(cert_path)
    cert = None
    if cert_pem is not None:
        try:
            cert = x509.load_pem_x509_certificates(cert_pem)[0]
        except (ValueError, IndexError):
            reason = "no PEM certificate could be read from it"
    if cert is None:
        result.problems.append("%s is not a readable PEM certificate: %s." % (cert_name, reason))
    if cert_pem is not None and _PRIVATE_KEY_BEGIN.search(cert_pem):
        result.problems.append(
            "%s holds a private key block; it is written to tls.crt, which consumers read: give the certificate "
            "(and its chain) alone, the key in %s." % (cert_name, key_label)
        )

    key_pem, reason = _read(key_path)
    key = None
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            reason = "it is encrypted; give the key without a passphrase"
        except Exception:  # noqa: BLE001 - the parser's own text is dropped: it could quote the file
            reason = "no PEM private key could be read from it"
    if key is None:
        result.problems.append("%s is not a readable, unencrypted PEM private key: %s." % (key_name, reason))

    if cert is None or key is None:
        return result

    for label, pem in ((cert_label, cert_pem), (key_label, key_pem)):
        try:
            pem.decode("ascii")
        except UnicodeDecodeError:
            result.problems.append("%s must be PEM text (ASCII); it holds other bytes." % label)

    names = dns_names(cert)
    not_before, not_after = _utc(cert, "not_valid_before"), _utc(cert, "not_valid_after")
    result.facts = {
        "sha256": fingerprint(cert.public_bytes(serialization.Encoding.DER), 64),
        "dns_names": names,
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        result.problems.append("%s is not the key of %s." % (key_name, cert_name))
    if not covers(names, host):
        result.problems.append(
            "%s does not cover %s '%s' (its DNS names: %s); ingress-nginx would silently serve its fake certificate."
            % (cert_name, host_label, host, ", ".join(names) or "none")
        )
    if now >= not_after:
        result.problems.append("%s expired on %s." % (cert_name, result.facts["not_after"]))
    elif now < not_before:
        result.problems.append(
            "%s is not valid yet (not before %s)." % (cert_name, not_before.strftime("%Y-%m-%dT%H:%M:%SZ"))
        )
    elif now + datetime.timedelta(days=warn_days) >= not_after:
        result.warnings.append("%s expires on %s, within %d days." % (cert_name, result.facts["not_after"], warn_days))
    return result
