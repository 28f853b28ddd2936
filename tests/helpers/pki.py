"""Test PKI: a throwaway CA and leaf certificates made with `cryptography`.

Everything is in memory; ``write_pair`` puts PEM files on disk when a consumer needs paths.
Helpers for the bad cases the hardening tests need: a key that does not match the cert,
an expired cert, a cert for another host, a self-signed leaf.

    ca = make_ca()
    leaf = issue_leaf(ca, "pypi.theedgeworks.ai")
    cert_path, key_path = write_pair(tmp_path, leaf)
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOST = "pypi.theedgeworks.ai"


@dataclass(frozen=True)
class KeyCert:
    """A certificate and its private key (which need not match: see ``mismatched_pair``)."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (what `kubectl create secret tls` and nginx accept)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def key_pem_traditional(self) -> bytes:
        """PKCS#1 ("BEGIN RSA PRIVATE KEY") / SEC1 ("BEGIN EC PRIVATE KEY") PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def new_key(kind: str = "rsa"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


def make_ca(common_name: str = "theedgeworks test CA", *, key_kind: str = "ec", days: int = 30) -> KeyCert:
    key = new_key(key_kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyCert(cert, key)


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def issue_leaf(
    ca: KeyCert,
    host: str | list[str] = DEFAULT_HOST,
    *,
    key_kind: str = "rsa",
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    days: int = 7,
    key=None,
) -> KeyCert:
    """A server certificate for ``host`` (one name or a list; IPs become IP SANs) signed by ``ca``."""
    hosts = [host] if isinstance(host, str) else list(host)
    key = key or new_key(key_kind)
    now = _now()
    nb = not_before or (now - _dt.timedelta(minutes=5))
    na = not_after or (now + _dt.timedelta(days=days))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return KeyCert(cert, key)


def expired_leaf(ca: KeyCert, host: str = DEFAULT_HOST, **kw) -> KeyCert:
    """Valid signature and host, but expired yesterday."""
    now = _now()
    return issue_leaf(ca, host, not_before=now - _dt.timedelta(days=30), not_after=now - _dt.timedelta(days=1), **kw)


def not_yet_valid_leaf(ca: KeyCert, host: str = DEFAULT_HOST, **kw) -> KeyCert:
    now = _now()
    return issue_leaf(ca, host, not_before=now + _dt.timedelta(days=1), not_after=now + _dt.timedelta(days=30), **kw)


def other_host_leaf(ca: KeyCert, host: str = "other.example.test", **kw) -> KeyCert:
    """A good certificate that does not cover pypi.theedgeworks.ai."""
    return issue_leaf(ca, host, **kw)


def mismatched_pair(ca: KeyCert, host: str = DEFAULT_HOST, **kw) -> KeyCert:
    """The certificate for ``host`` with the private key of *another* certificate."""
    good = issue_leaf(ca, host, **kw)
    return KeyCert(good.cert, new_key(kw.get("key_kind", "rsa")))


def self_signed_leaf(host: str = DEFAULT_HOST, *, days: int = 7) -> KeyCert:
    """A server certificate for ``host`` signed by its own key (issuer = subject, no CA)."""
    key = new_key("rsa")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san([host]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyCert(cert, key)


def untrusted_ca_leaf(host: str = DEFAULT_HOST) -> KeyCert:
    """A good-looking certificate for ``host`` from a CA the client does not trust."""
    return issue_leaf(make_ca("some other CA"), host)


def key_matches_cert(pair: KeyCert) -> bool:
    pub = pair.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mine = pair.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pub == mine


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def write_pair(
    directory: Path | str, pair: KeyCert, stem: str = "tls", *, chain: list[KeyCert] | None = None
) -> tuple[Path, Path]:
    """Write ``stem.crt`` (leaf, then ``chain`` certs) and ``stem.key`` (0600); return their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / f"{stem}.crt", d / f"{stem}.key"
    crt.write_bytes(pair.cert_pem + b"".join(c.cert_pem for c in (chain or [])))
    key.touch(mode=0o600)
    key.chmod(0o600)
    key.write_bytes(pair.key_pem)
    return crt, key


def write_ca(directory: Path | str, ca: KeyCert, name: str = "ca.crt") -> Path:
    p = Path(directory) / name
    p.write_bytes(ca.cert_pem)
    return p
