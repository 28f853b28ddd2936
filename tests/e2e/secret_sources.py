"""Where the consumer checks get their Secret bytes from.

* ``local_secret_set``: values made here, in the formats of the role's contract (``local_*``).
  This is the reference that shows each consumer check itself works.
* ``SiteRunner``: runs the real ``site.yml`` against the test control plane and reads the
  Secrets back with ``kubectl get secret -o json``; the bytes the consumers get are the
  base64-decoded ``data`` values, exactly what a pod sees.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.tools import pki
from tests.e2e.drivers import nginx
from tests.e2e.drivers.proc import clean_env, expect

REPO = Path(__file__).resolve().parents[2]
KUBECTL = os.environ.get("KUBECTL", "/usr/bin/kubectl" if os.access("/usr/bin/kubectl", os.X_OK) else "kubectl")
SECRET_NAMES = ("devpi-tls", "devpi-secret", "devpi-oauth2-proxy-secret", "devpi-basic-auth", "devpi-basic-auth-client")
CLIENT_ID = b"theedgeworks"  # the role's default client-id (seed: Keycloak client `theedgeworks`)


@dataclass
class SecretSet:
    """The four Secrets' data, as bytes, plus what the test knows from outside (the CA)."""

    source: str
    tls_crt: bytes
    tls_key: bytes
    ca_pem: bytes
    secret: bytes
    client_id: bytes
    client_secret: bytes
    cookie_secret: bytes
    auth: bytes
    basic_password: str
    namespace: str | None = None
    types: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)  # name -> {key: bytes}

    @property
    def basic_user(self) -> str:
        return self.auth.split(b":", 1)[0].decode()


# --------------------------------------------------------------------------- local values (contract formats)


def local_secret() -> bytes:
    """devpi-secret: standard base64 of 32 random bytes, 44 chars, no newline."""
    return base64.b64encode(os.urandom(32))


def local_cookie_secret() -> bytes:
    """cookie-secret: URL-safe base64 of 32 random bytes, 44 chars with '=' padding."""
    return base64.urlsafe_b64encode(os.urandom(32))


def seed_recipe_cookie_secret() -> bytes:
    """What the seed doc's one-liner makes: base64.b64encode(os.urandom(32)).decode()."""
    return base64.b64encode(os.urandom(32)).decode().encode()


def local_htpasswd(user: str, password: str) -> bytes:
    """`user:$2y$05$…\\n`, what `htpasswd -nbB` makes (cost 5)."""
    import bcrypt

    salt = b"$2y$" + bcrypt.gensalt(5)[4:]
    return f"{user}:".encode() + bcrypt.hashpw(password.encode(), salt) + b"\n"


def local_secret_set(host: str = pki.DEFAULT_HOST) -> SecretSet:
    ca = pki.make_ca()
    leaf = pki.issue_leaf(ca, host)
    password = secrets.token_urlsafe(24)  # 32 chars
    return SecretSet(
        source="local",
        tls_crt=leaf.cert_pem,
        tls_key=leaf.key_pem,
        ca_pem=ca.cert_pem,
        secret=local_secret(),
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(24).encode(),
        cookie_secret=local_cookie_secret(),
        auth=local_htpasswd("pypi-user", password),
        basic_password=password,
        types={
            "devpi-tls": "kubernetes.io/tls",
            "devpi-secret": "Opaque",
            "devpi-oauth2-proxy-secret": "Opaque",
            "devpi-basic-auth": "Opaque",
        },
    )


# --------------------------------------------------------------------------- site.yml


class SiteError(AssertionError):
    pass


class SiteRunner:
    """Runs site.yml against a kubeconfig and reads the Secrets back."""

    def __init__(self, kubeconfig: str, workdir: Path):
        self.kubeconfig = str(kubeconfig)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.ca = pki.make_ca()
        leaf = pki.issue_leaf(self.ca, pki.DEFAULT_HOST)
        self.cert_file, self.key_file = pki.write_pair(self.workdir / "pki", leaf)
        self.created: set[str] = set()
        self._client_secrets: dict[str, str] = {}
        site = REPO / "site.yml"
        if not site.exists():
            raise SiteError(f"{site} does not exist: the role/site.yml is needed for the 'site' source")
        self.playbook = self._ansible_playbook()

    @staticmethod
    def _ansible_playbook() -> str:
        for cand in (Path(sys.executable).parent / "ansible-playbook", REPO / ".venv" / "bin" / "ansible-playbook"):
            if os.access(cand, os.X_OK):
                return str(cand)
        found = shutil.which("ansible-playbook")
        if not found:
            raise SiteError("ansible-playbook not found (expected in the repo .venv)")
        return found

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        r = subprocess.run(
            [KUBECTL, "--kubeconfig", self.kubeconfig, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=clean_env(),
        )
        if check and r.returncode != 0:
            raise SiteError(f"kubectl {' '.join(args)}: rc={r.returncode}\n{r.stderr}")
        return r

    def run(
        self,
        namespace: str,
        *,
        rotate: list[str] | str | None = None,
        password: str | None = None,
        client_secret: str | None = None,
        extra: dict | None = None,
        timeout: float = 600,
    ) -> float:
        """ansible-playbook site.yml -e @vars.json; returns seconds taken."""
        self.created.add(namespace)
        v = {
            "devpi_secrets_namespace": namespace,
            "devpi_secrets_kubeconfig": self.kubeconfig,
            "devpi_secrets_tls_cert_file": str(self.cert_file),
            "devpi_secrets_tls_key_file": str(self.key_file),
            "devpi_secrets_tls_host": pki.DEFAULT_HOST,
            "devpi_secrets_oauth2_client_secret": client_secret or self.client_secret_for(namespace),
        }
        if password is not None:
            v["devpi_secrets_basic_auth_password"] = password
        if rotate is not None:
            v["devpi_secrets_rotate"] = rotate
        v.update(extra or {})
        fd, varfile = tempfile.mkstemp(prefix=f"vars-{namespace}-", suffix=".json", dir=self.workdir)
        with os.fdopen(fd, "w") as fh:
            json.dump(v, fh)
        env = clean_env(
            PATH=f"{Path(self.playbook).parent}:{os.environ.get('PATH', '')}",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_NOCOLOR="1",
            KUBECONFIG=self.kubeconfig,
        )
        t0 = time.monotonic()
        r = subprocess.run(
            [self.playbook, "site.yml", "-e", f"@{varfile}"],
            cwd=REPO,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - t0
        if r.returncode != 0:
            raise SiteError(
                f"site.yml failed for {namespace} (rc={r.returncode}, {took:.0f}s):\n"
                f"{r.stdout[-4000:]}\n{r.stderr[-2000:]}"
            )
        return took

    def client_secret_for(self, namespace: str) -> str:
        return self._client_secrets.setdefault(namespace, secrets.token_urlsafe(24))

    def read(self, namespace: str, name: str) -> tuple[str, dict[str, bytes]]:
        r = self.kubectl("get", "secret", "-n", namespace, name, "-o", "json")
        obj = json.loads(r.stdout)
        return obj.get("type", ""), {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def secret_set(self, namespace: str) -> SecretSet:
        raw, types = {}, {}
        for name in SECRET_NAMES:
            types[name], raw[name] = self.read(namespace, name)
        ba = raw["devpi-basic-auth"]
        client = raw["devpi-basic-auth-client"]
        if set(ba) != {"auth"} or set(client) != {"username", "password"}:
            raise SiteError(
                f"want devpi-basic-auth with auth only and devpi-basic-auth-client with username and password, "
                f"got keys {sorted(ba)} and {sorted(client)}"
            )
        o = raw["devpi-oauth2-proxy-secret"]
        return SecretSet(
            source="site",
            namespace=namespace,
            types=types,
            raw=raw,
            tls_crt=raw["devpi-tls"]["tls.crt"],
            tls_key=raw["devpi-tls"]["tls.key"],
            ca_pem=self.ca.cert_pem,
            secret=raw["devpi-secret"]["secret"],
            client_id=o["client-id"],
            client_secret=o["client-secret"],
            cookie_secret=o["cookie-secret"],
            auth=ba["auth"],
            basic_password=client["password"].decode(),
        )

    def rotate(self, s: SecretSet, names: list[str]) -> SecretSet:
        self.run(s.namespace, rotate=names)
        return self.secret_set(s.namespace)

    def cleanup(self) -> None:
        for ns in sorted(self.created):
            self.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def rotate_devpi_secret(s: SecretSet, runner: SiteRunner | None) -> tuple[bytes, SecretSet | None]:
    """A new devpi-secret the way the source makes it: locally, or site.yml's forced rotation."""
    if s.source == "local":
        return local_secret(), None
    new = runner.rotate(s, ["devpi-secret"])
    return new.secret, new


def check_contract(s: SecretSet) -> None:
    """The data formats every consumer relies on (the contract), checked before the consumers."""
    expect(s.types.get("devpi-tls") == "kubernetes.io/tls", f"devpi-tls type {s.types.get('devpi-tls')}")
    expect(
        len(s.secret) == 44 and len(base64.b64decode(s.secret, validate=True)) == 32,
        f"devpi-secret: want standard base64 of 32 bytes (44 chars), got {len(s.secret)} bytes",
    )
    expect(not s.secret.endswith(b"\n"), "devpi-secret ends with a newline")
    expect(
        len(s.cookie_secret) == 44
        and s.cookie_secret.endswith(b"=")
        and len(base64.urlsafe_b64decode(s.cookie_secret)) == 32
        and not (set(s.cookie_secret) & set(b"+/")),
        f"cookie-secret: want URL-safe base64 of 32 bytes, got {len(s.cookie_secret)} chars",
    )
    nginx.check_htpasswd_format(s.auth)
    expect(s.client_id and s.client_secret, "client-id / client-secret empty")
