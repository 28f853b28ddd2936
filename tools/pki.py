"""The one PKI module of the repo: throwaway CAs, certificates and keys made with `cryptography`.

Users: the control plane launcher (tools/cluster.py: cluster CA, API server serving cert, client certs
for kubeconfigs) and the tests, through ``helpers.load_tool("pki.py", ...)`` (TLS inputs for site.yml,
and the bad cases the hardening tests need: a key that does not match the cert, an expired cert, a
cert for another host, a self-signed leaf, a cert from an untrusted CA).

Everything is in memory; ``write_pair`` puts PEM files on disk when a consumer needs paths.

    ca = make_ca()
    leaf = issue_leaf(ca, "pypi.theedgeworks.ai")
    cert_path, key_path = write_pair(tmp_path, leaf)
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOST = "pypi.theedgeworks.ai"

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (what `kubectl create secret tls`, nginx and kube-apiserver accept)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyCert:
    """A certificate and its private key (which need not match: see ``mismatched_pair``)."""

    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

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


def new_key(kind: str = "rsa") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key kind {kind!r}")


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def build_cert(
    common_name: str,
    key: PrivateKey,
    *,
    issuer: KeyCert | None = None,
    orgs: Sequence[str] = (),
    ca: bool = False,
    hosts: Sequence[str] = (),
    client: bool = False,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    days: int = 7,
) -> x509.Certificate:
    """The one certificate builder: subject O=orgs..., CN=common_name for ``key``, signed by ``issuer``
    (None: self-signed). A CA gets keyCertSign, path length 0 and its key identifier. A leaf gets
    serverAuth (``client``: clientAuth), SANs for ``hosts`` (IPs become IP SANs) and, when a CA issues
    it, the key usage and key identifiers that Python >= 3.13's VERIFY_X509_STRICT wants.
    Valid from 5 minutes ago for ``days`` unless ``not_before`` / ``not_after`` say otherwise."""
    now = _now()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    name = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - _dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        b = b.add_extension(_key_usage(ca=True), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        if issuer is not None:
            b = b.add_extension(_key_usage(ca=False), critical=True)
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
            )
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            b = b.add_extension(_san(hosts), critical=False)
    return b.sign(issuer.key if issuer else key, hashes.SHA256())


# --------------------------------------------------------------------------- good certificates


def make_ca(common_name: str = "theedgeworks test CA", *, key_kind: str = "ec", days: int = 30) -> KeyCert:
    key = new_key(key_kind)
    return KeyCert(build_cert(common_name, key, ca=True, days=days), key)


def issue_leaf(
    ca: KeyCert,
    host: str | Sequence[str] = DEFAULT_HOST,
    *,
    common_name: str | None = None,
    key_kind: str = "rsa",
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    days: int = 7,
    key: PrivateKey | None = None,
) -> KeyCert:
    """A server certificate for ``host`` (one name or a list; IPs become IP SANs) signed by ``ca``.
    The CN is ``common_name``, else the first host."""
    hosts = [host] if isinstance(host, str) else list(host)
    key = key or new_key(key_kind)
    cert = build_cert(
        common_name or hosts[0],
        key,
        issuer=ca,
        hosts=hosts,
        not_before=not_before,
        not_after=not_after,
        days=days,
    )
    return KeyCert(cert, key)


def issue_client(
    ca: KeyCert, user: str, groups: Sequence[str] = (), *, key_kind: str = "ec", days: int = 30
) -> KeyCert:
    """A client certificate CN=user, O=groups (how kube-apiserver reads a user and its groups)."""
    key = new_key(key_kind)
    return KeyCert(build_cert(user, key, issuer=ca, orgs=groups, client=True, days=days), key)


# --------------------------------------------------------------------------- bad certificates


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
    return KeyCert(build_cert(host, key, hosts=[host], days=days), key)


def untrusted_ca_leaf(host: str = DEFAULT_HOST) -> KeyCert:
    """A good-looking certificate for ``host`` from a CA the client does not trust."""
    return issue_leaf(make_ca("some other CA"), host)


# --------------------------------------------------------------------------- reading and writing


def key_matches_cert(pair: KeyCert) -> bool:
    return public_key_pem(pair.key) == pair.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def load_pair(cert_pem: bytes, key_pem: bytes) -> KeyCert:
    """A KeyCert from PEM (e.g. a CA on disk that is to issue more certificates)."""
    return KeyCert(load_cert(cert_pem), serialization.load_pem_private_key(key_pem, password=None))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (also when the file exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_pair(
    directory: Path | str, pair: KeyCert, stem: str = "tls", *, chain: list[KeyCert] | None = None
) -> tuple[Path, Path]:
    """Write ``stem.crt`` (leaf, then ``chain`` certs) and ``stem.key`` (0600); return their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / f"{stem}.crt", d / f"{stem}.key"
    crt.write_bytes(pair.cert_pem + b"".join(c.cert_pem for c in (chain or [])))
    write_private(key, pair.key_pem)
    return crt, key


def write_ca(directory: Path | str, ca: KeyCert, name: str = "ca.crt") -> Path:
    p = Path(directory) / name
    p.write_bytes(ca.cert_pem)
    return p
