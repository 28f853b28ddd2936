"""The whole front door of pypi.theedgeworks.ai on loopback, built from the Secrets as the cluster holds them.

nginx plays ingress-nginx for ``pypi.theedgeworks.ai`` on 127.0.0.1:443 with ``devpi-tls``, so oauth2-proxy's
redirect URL is exactly the seed's ``https://pypi.theedgeworks.ai/oauth2/callback``:

* the seed's API paths (``/root/``, ``/upload/``, ``/+api``, ``/+login``) behind ``auth_basic`` with
  ``devpi-basic-auth``, proxied to devpi-server started with ``--secretfile`` from ``devpi-secret``;
* everything else (the web UI) behind oauth2-proxy with ``devpi-oauth2-proxy-secret``, through
  ``auth_request /oauth2/auth`` (401 -> 302 to ``/oauth2/start?rd=<uri>``), as ingress-nginx renders
  ``auth-url``/``auth-signin``.

The private index is ``root/private``: under ``/root/``, where the seed puts pip's traffic. Clients reach the name
on loopback without /etc/hosts: ``browser()`` (tests/e2e/drivers/browser.py) and ``pip_install`` (pip with a
pinned name, tests/e2e/drivers/nginx.py). Needs root: it listens on port 443.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from helpers.tools import pki
from tests.e2e.drivers import nginx
from tests.e2e.drivers.browser import Browser
from tests.e2e.drivers.devpi import DevpiClient, DevpiServer, build_test_wheel, write_secretfile
from tests.e2e.drivers.oauth2_proxy import OidcProvider, oauth2_proxy
from tests.e2e.drivers.proc import LOOPBACK, expect, free_port, port_open

HOST = pki.DEFAULT_HOST
PORT = 443
BASE = f"https://{HOST}"
CALLBACK = f"{BASE}/oauth2/callback"
API_PATHS = ("/root/", "/upload/", "/+api", "/+login")  # the seed's basic-auth paths (pip, twine)
INDEX = "root/private"
PACKAGE = "theedgeworks-front-door-probe"
_LOG_LINE = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) ')


def ingress_server(tls: Path, authfile: Path, devpi_url: str, oauth2_proxy_url: str) -> str:
    """The nginx server block: what ingress-nginx makes of the seed's two Ingresses for the host."""
    api = "".join(nginx.basic_auth_location(authfile, devpi_url, path) for path in API_PATHS)
    to_oauth2_proxy = nginx.proxy_to(
        oauth2_proxy_url, "X-Forwarded-Proto $scheme", "X-Forwarded-Host $host", "X-Forwarded-Uri $request_uri"
    )
    return f"""
    server {{
        listen {LOOPBACK}:{PORT} ssl;
        server_name {HOST};
        ssl_certificate {tls / "tls.crt"};
        ssl_certificate_key {tls / "tls.key"};
        ssl_protocols TLSv1.2 TLSv1.3;
        {api}
        location /oauth2/ {{ {to_oauth2_proxy} }}
        location = /oauth2/auth {{
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            {to_oauth2_proxy}
        }}
        location / {{
            auth_request /oauth2/auth;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;
            error_page 401 = @oauth2_start;
            {nginx.proxy_to(devpi_url)}
        }}
        location @oauth2_start {{
            # ingress-nginx escapes the URI ($escaped_request_uri, Lua); stock nginx cannot: fine for these paths.
            return 302 /oauth2/start?rd=$request_uri;
        }}
    }}"""


def require_port() -> None:
    """Fail now, and say why, when the front door cannot listen on 127.0.0.1:443."""
    expect(os.geteuid() == 0, f"the front door listens on 127.0.0.1:{PORT}: run the e2e tests as root")
    expect(
        not port_open(PORT),
        f"127.0.0.1:{PORT} is taken: the front door needs it (oauth2-proxy's redirect URL is {CALLBACK}); "
        f"stop what listens there (ss -ltnp 'sport = :{PORT}')",
    )


@dataclass
class PipRun:
    rc: int
    requests: dict[str, int]  # "GET <path>": status, of pip's requests as nginx logged them
    files: list[Path]
    output: str


class FrontDoor:
    """devpi-server, oauth2-proxy and nginx, from one SecretSet (tests/e2e/secret_sources.py); ``open`` starts
    them, ``restart_oauth2_proxy`` takes a new SecretSet's oauth2-proxy values, ``close`` stops all."""

    def __init__(self, workdir: Path, provider: OidcProvider):
        self.workdir, self.provider = workdir, provider
        self.cafile = workdir / "ca.crt"
        self.devpi = DevpiServer(workdir / "devpi")
        self.oauth2_proxy_port = free_port()
        self._oauth2_proxy = contextlib.ExitStack()
        self.nginx: nginx.Nginx | None = None
        self.wheel: Path | None = None

    def open(self, s) -> FrontDoor:
        require_port()
        self.cafile.parent.mkdir(parents=True, exist_ok=True)
        self.cafile.write_bytes(s.ca_pem)
        self._start_devpi(s.secret)
        self.restart_oauth2_proxy(s)
        tls = self.workdir / "secrets" / "devpi-tls"  # what the ingress controller reads of the Secrets
        tls.mkdir(parents=True, exist_ok=True)
        (tls / "tls.crt").write_bytes(s.tls_crt)
        (tls / "tls.key").write_bytes(s.tls_key)
        (tls / "tls.key").chmod(0o600)
        authfile = nginx.write_authfile(self.workdir / "secrets" / "devpi-basic-auth", s.auth)
        server = ingress_server(tls, authfile, self.devpi.url, f"http://{LOOPBACK}:{self.oauth2_proxy_port}")
        self.nginx = nginx.Nginx(self.workdir / "nginx", server)  # assigned first: close() stops a failed start
        self.nginx.start([PORT])
        return self

    def _start_devpi(self, secret: bytes) -> None:
        """devpi-server with ``--secretfile`` (subPath layout, 0400), the index root/private and one wheel in it."""
        f = write_secretfile(self.workdir / "devpi" / "etc-devpi", secret, folder_mode=0o755, file_mode=0o400)
        self.devpi.init()
        self.devpi.start(f)
        client = DevpiClient(self.workdir / "devpi" / "client")
        client("use", self.devpi.url)
        client("login", "root", f"--password={self.devpi.root_password}")
        client("index", "-c", INDEX, "bases=", "volatile=False")
        client("use", INDEX)
        self.wheel = build_test_wheel(self.workdir / "devpi", PACKAGE, "1.0.0")
        client("upload", str(self.wheel))

    def restart_oauth2_proxy(self, s) -> None:
        """(Re)start oauth2-proxy on its port with the Secret's client-id, client-secret and cookie-secret."""
        self._oauth2_proxy.close()
        self._oauth2_proxy = contextlib.ExitStack()
        run = self._oauth2_proxy.enter_context(
            oauth2_proxy(
                s.client_id,
                s.client_secret,
                s.cookie_secret,
                self.workdir / "oauth2-proxy",
                self.provider,
                port=self.oauth2_proxy_port,
                redirect_url=CALLBACK,
                behind_nginx=True,
                timeout=30,
            )
        )
        expect(run.started, f"oauth2-proxy did not start:\n{run.output}")

    def browser(self) -> Browser:
        return Browser(self.cafile, {HOST: PORT})

    def pip_install(self, dest: Path, credentials: tuple[str, str] | None) -> PipRun:
        """pip install (--target dest) of the probe package from root/private through the front door; ``files``: the
        installed distributions (*.dist-info)."""
        userinfo = ":".join(urllib.parse.quote(c, safe="") for c in credentials) + "@" if credentials else ""
        mark = self.nginx.access_log_size()
        index = f"https://{userinfo}{HOST}/{INDEX}/+simple/"
        r = nginx.pip_download(index, PACKAGE, dest, cert=self.cafile, pin=HOST, install=True)
        hits = (_LOG_LINE.search(ln) for ln in self.nginx.access_log(mark) if '"pip/' in ln)
        return PipRun(
            r.returncode,
            {f"{m[1]} {m[2]}": int(m[3]) for m in hits if m},
            sorted(dest.glob("*.dist-info")) if dest.exists() else [],
            f"{r.stdout[-1500:]}{r.stderr[-1500:]}",
        )

    def close(self) -> None:
        if self.nginx:
            self.nginx.stop()
        self._oauth2_proxy.close()
        self.devpi.stop()

    def __enter__(self) -> FrontDoor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
