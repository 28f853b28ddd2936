"""oauth2-proxy, the consumer of ``devpi-oauth2-proxy-secret``, and the OIDC provider it talks to.

``oauth2_proxy`` starts it with the Secret's three values; ``check_oauth2_proxy_login`` runs a full
OIDC code flow against ``DummyOidc``, a stand-in provider on loopback. ``OidcProvider`` is the seam
for a real provider: the front door (tests/e2e/drivers/front_door.py) hands
``OidcProvider.keycloak(issuer)`` to ``oauth2_proxy`` and logs in with tests/e2e/drivers/keycloak.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from helpers.http_stub import JsonHandler, ServedInThread
from helpers.tools import install_consumers as installed
from tests.e2e.drivers.proc import LOOPBACK, Proc, clean_env, expect, free_port, http, port_open, set_cookies


def _b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass
class OidcProvider:
    """Where oauth2-proxy sends users and redeems codes.

    ``DummyOidc`` (below) runs one on loopback. A real Keycloak: ``OidcProvider.keycloak(issuer)``;
    it drops ``--skip-oidc-discovery`` so oauth2-proxy reads the endpoints from the issuer."""

    issuer: str
    login_url: str | None = None
    redeem_url: str | None = None
    jwks_url: str | None = None
    provider: str = "oidc"

    @classmethod
    def keycloak(cls, issuer: str) -> "OidcProvider":
        return cls(issuer=issuer, provider="keycloak-oidc")

    def flags(self) -> list[str]:
        f = [f"--provider={self.provider}", f"--oidc-issuer-url={self.issuer}"]
        if self.login_url:
            f += [
                "--skip-oidc-discovery",
                f"--login-url={self.login_url}",
                f"--redeem-url={self.redeem_url}",
                f"--oidc-jwks-url={self.jwks_url}",
            ]
        return f


def unreachable_oidc() -> OidcProvider:
    """Endpoints on a loopback port nobody listens on: enough for oauth2-proxy to start."""
    base = f"http://{LOOPBACK}:{free_port()}/realms/theedgeworks"
    p = f"{base}/protocol/openid-connect"
    return OidcProvider(issuer=base, login_url=f"{p}/auth", redeem_url=f"{p}/token", jwks_url=f"{p}/certs")


class DummyOidc(ServedInThread):
    """A minimal OIDC provider on loopback: authorization endpoint (records only), token
    endpoint that checks the client credentials, JWKS; issues RS256 id_tokens."""

    def __init__(self, client_id: str, client_secret: str, email: str = "dev@theedgeworks.ai"):
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.client_id, self.client_secret, self.email = client_id, client_secret, email
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}/realms/theedgeworks"
        self.codes: dict[str, str] = {}  # code -> nonce
        self.token_requests: list[dict] = []
        outer = self

        class H(JsonHandler):
            def do_GET(self):
                if self.path.endswith("/certs"):
                    return self._send(200, outer.jwks())
                return self._send(404, {})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                cid, csec = form.get("client_id"), form.get("client_secret")
                hdr = self.headers.get("Authorization", "")
                if hdr.startswith("Basic "):
                    cid, csec = (urllib.parse.unquote_plus(x) for x in base64.b64decode(hdr[6:]).decode().split(":", 1))
                outer.token_requests.append({"client_id": cid, "client_secret_ok": csec == outer.client_secret})
                if cid != outer.client_id or csec != outer.client_secret:
                    return self._send(401, {"error": "invalid_client"})
                code = form.get("code")
                if code not in outer.codes:
                    return self._send(400, {"error": "invalid_grant"})
                return self._send(
                    200,
                    {
                        "access_token": secrets.token_urlsafe(24),
                        "token_type": "Bearer",
                        "expires_in": 300,
                        "id_token": outer.id_token(outer.codes.pop(code)),
                    },
                )

        self.serve(H, LOOPBACK, self.port)

    @property
    def provider(self) -> OidcProvider:
        p = f"{self.base}/protocol/openid-connect"
        return OidcProvider(issuer=self.base, login_url=f"{p}/auth", redeem_url=f"{p}/token", jwks_url=f"{p}/certs")

    def jwks(self) -> dict:
        nums = self.key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": _b64u(n), "e": _b64u(e)}]}

    def id_token(self, nonce: str | None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        claims = {
            "iss": self.base,
            "aud": self.client_id,
            "sub": "user-1",
            "email": self.email,
            "email_verified": True,
            "preferred_username": "dev",
            "iat": now,
            "exp": now + 300,
        }
        if nonce:
            claims["nonce"] = nonce
        head = _b64u(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        body = _b64u(json.dumps(claims).encode())
        sig = self.key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64u(sig)}"

    def authorize(self, login_location: str) -> tuple[str, str]:
        """What the browser + login page would do: returns (code, state) for the callback."""
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login_location).query))
        expect(q.get("client_id") == self.client_id, f"login redirect carries client_id={q.get('client_id')!r}")
        code = secrets.token_urlsafe(16)
        self.codes[code] = q.get("nonce", "")
        return code, q["state"]


@dataclass
class OAuth2ProxyRun:
    started: bool
    ping: int | None
    output: str
    port: int
    proc: Proc | None = None


# Standalone (the login checks talk to oauth2-proxy directly) or behind nginx's auth_request (the front door,
# tests/e2e/drivers/front_door.py): there it answers /oauth2/auth with 202 or 401 (upstream static://202), trusts
# nginx's X-Forwarded-* headers and, served over https, marks its cookies Secure.
STANDALONE = ["--upstream=static://200", "--cookie-secure=false", "--reverse-proxy=false"]
BEHIND_NGINX = ["--upstream=static://202", "--cookie-secure=true", "--reverse-proxy=true", "--set-xauthrequest=true"]


def oauth2_proxy_cmd(
    client_id: str,
    client_secret: str,
    port: int,
    provider: OidcProvider,
    *,
    redirect_url: str | None = None,
    behind_nginx: bool = False,
) -> list[str]:
    return [
        installed.oauth2_proxy_binary(),
        *provider.flags(),
        f"--client-id={client_id}",
        f"--client-secret={client_secret}",
        f"--http-address={LOOPBACK}:{port}",
        "--email-domain=*",
        f"--redirect-url={redirect_url or f'http://{LOOPBACK}:{port}/oauth2/callback'}",
        "--skip-provider-button=true",
        *(BEHIND_NGINX if behind_nginx else STANDALONE),
    ]


@contextlib.contextmanager
def oauth2_proxy(
    client_id: bytes,
    client_secret: bytes,
    cookie_secret: bytes,
    workdir: Path,
    provider: OidcProvider | None = None,
    *,
    timeout: float = 15,
    port: int | None = None,
    **cmd_options,
):
    """Start oauth2-proxy with the Secret's three values (cookie-secret via env, as a
    Deployment's secretKeyRef would); yields an OAuth2ProxyRun whether or not it started.
    ``port`` (default: a free one) and ``cmd_options`` (see ``oauth2_proxy_cmd``) for the front door."""
    port = port or free_port()
    provider = provider or unreachable_oidc()
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(OAUTH2_PROXY_COOKIE_SECRET=cookie_secret.decode())
    proc = Proc(
        "oauth2-proxy",
        oauth2_proxy_cmd(client_id.decode(), client_secret.decode(), port, provider, **cmd_options),
        log=workdir / f"oauth2-proxy-{port}.log",
        env=env,
    ).start()
    try:
        deadline = time.monotonic() + timeout
        ping = None
        while time.monotonic() < deadline and proc.alive:
            if port_open(port):
                with contextlib.suppress(OSError):
                    ping = http(f"http://{LOOPBACK}:{port}/ping", timeout=5).status
                    if ping == 200:
                        break
            time.sleep(0.05)
        if not proc.alive:
            proc.wait_exit(5)
        yield OAuth2ProxyRun(
            started=ping == 200 and proc.alive, ping=ping, output=proc.log_tail(20), port=port, proc=proc
        )
    finally:
        proc.stop()


def try_oauth2_proxy(client_id: bytes, client_secret: bytes, cookie_secret: bytes, workdir: Path) -> OAuth2ProxyRun:
    with oauth2_proxy(client_id, client_secret, cookie_secret, workdir) as r:
        return r


def login_session(o2p: OAuth2ProxyRun, idp: DummyOidc) -> str:
    """An OIDC code flow through a running oauth2-proxy against ``idp``: the session cookie (``Cookie`` header)."""
    expect(o2p.started, f"oauth2-proxy did not start:\n{o2p.output}")
    base = f"http://{LOOPBACK}:{o2p.port}"
    expect(http(base + "/").status in (302, 401, 403), "upstream reachable without a session")
    start = http(base + "/oauth2/start?rd=%2F")
    expect(
        start.status == 302 and start.headers["location"].startswith(idp.provider.login_url),
        f"/oauth2/start: {start.status} {start.headers.get('location')}",
    )
    csrf = set_cookies(start)
    code, state = idp.authorize(start.headers["location"])
    cb = http(
        f"{base}/oauth2/callback?" + urllib.parse.urlencode({"code": code, "state": state}),
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in csrf.items())},
    )
    expect(
        idp.token_requests and idp.token_requests[-1]["client_secret_ok"],
        f"token endpoint did not see the Secret's client-secret: {idp.token_requests}",
    )
    session = {k: v for k, v in set_cookies(cb).items() if not k.endswith("_csrf")}
    expect(cb.status == 302 and session, f"callback: {cb.status} {cb.body[:300]!r}\n{o2p.proc.log_tail(20)}")
    return "; ".join(f"{k}={v}" for k, v in session.items())


def check_oauth2_proxy_login(client_id: bytes, client_secret: bytes, cookie_secret: bytes, workdir: Path) -> dict:
    """A full OIDC code flow through oauth2-proxy against DummyOidc: proves client-id (login
    redirect, id_token audience), client-secret (token endpoint) and cookie-secret (session
    cookie; another instance with another secret refuses it)."""
    cid = client_id.decode()
    with DummyOidc(cid, client_secret.decode()) as idp, oauth2_proxy(
        client_id, client_secret, cookie_secret, workdir, idp.provider
    ) as o2p:
        base = f"http://{LOOPBACK}:{o2p.port}"
        cookie = login_session(o2p, idp)
        me = http(base + "/oauth2/userinfo", headers={"Cookie": cookie})
        expect(
            me.status == 200 and me.json().get("email") == idp.email,
            f"userinfo with session: {me.status} {me.body[:200]!r}",
        )
        up = http(base + "/", headers={"Cookie": cookie})
        expect(up.status == 200, f"upstream with session cookie: {up.status}")
        report = {
            "login_redirect_client_id": cid,
            "token_endpoint_client_secret": "accepted",
            "session_cookie": "accepted",
        }
        # The session is sealed with the cookie-secret: another secret cannot open it.
        other = base64.urlsafe_b64encode(os.urandom(32))
        with oauth2_proxy(client_id, client_secret, other, workdir, idp.provider) as o2:
            expect(o2.started, "second oauth2-proxy did not start")
            r = http(f"http://{LOOPBACK}:{o2.port}/oauth2/userinfo", headers={"Cookie": cookie})
            expect(r.status in (401, 403), f"session sealed with another cookie-secret accepted: {r.status}")
            report["session_with_other_cookie_secret"] = r.status
    return report
