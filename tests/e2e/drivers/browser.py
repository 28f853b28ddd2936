"""A browser without a browser: what the front-door checks need of one, in the standard library.

``Browser`` keeps cookies (``http.cookiejar``), follows no redirect on its own (every hop is a step the test
sees, with its status code), verifies TLS against the test CA, and reaches a public host name on loopback:
``pins={"pypi.theedgeworks.ai": 443}`` connects that name to 127.0.0.1:443 while SNI, certificate checks, the
Host header and the cookie domain all keep the name - no /etc/hosts. Plain http goes to 127.0.0.1 only
(the Keycloak of the tests). Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.drivers.proc import LOOPBACK, Response


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to ``address`` (127.0.0.1) instead of resolving the host; everything else (SNI, name check) uses
    the host."""

    def __init__(self, host, *a, address: str = LOOPBACK, **kw):
        super().__init__(host, *a, **kw)
        self._create_connection = lambda addr, *ca, **ckw: socket.create_connection((address, addr[1]), *ca, **ckw)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pins: dict[str, int], context: ssl.SSLContext, address: str = LOOPBACK):
        super().__init__(context=context)
        self.pins, self.context, self.address = pins, context, address

    def https_open(self, req):
        host, port = req.host.rsplit(":", 1) if ":" in req.host else (req.host, "443")
        if self.pins.get(host) != int(port):
            raise ValueError(f"{req.full_url}: only pinned names reach {self.address} over https ({self.pins})")
        return self.do_open(_PinnedHTTPSConnection, req, context=self.context, address=self.address)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


@dataclass
class Step:
    method: str
    url: str
    status: int

    @property
    def label(self) -> str:
        """Method and URL, the long query strings (state, codes) shortened."""
        u = urllib.parse.urlsplit(self.url)
        where = u.hostname if u.scheme == "https" else f"keycloak:{u.port}"
        query = f"?{u.query}" if u.query and len(u.query) <= 24 else ("?…" if u.query else "")
        return f"{self.method} {where}{u.path}{query}"

    def __str__(self) -> str:
        return f"{self.label} -> {self.status}"


@dataclass
class Browser:
    cafile: Path
    pins: dict[str, int]
    steps: list[Step] = field(default_factory=list)
    #: where the pinned names connect (a Service's cluster IP for a front door in pods)
    address: str = LOOPBACK
    #: the hosts plain http may reach (the Keycloak of the tests; on a node's address for pods to reach it too)
    http_hosts: tuple[str, ...] = (LOOPBACK,)

    def __post_init__(self):
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.jar),
            _PinnedHTTPSHandler(self.pins, ssl.create_default_context(cafile=str(self.cafile)), self.address),
            _NoRedirect(),
        )

    def request(self, method: str, url: str, *, form: dict | None = None, headers: dict | None = None) -> Response:
        """One hop: no redirect followed; 4xx/5xx come back as responses. Recorded in ``steps``."""
        u = urllib.parse.urlsplit(url)
        pinned = u.scheme == "https" and u.hostname in self.pins
        if not (pinned or u.scheme == "http" and u.hostname in self.http_hosts):
            raise ValueError(f"not a pinned or test URL: {url}")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", **(headers or {})}  # as a browser
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with self._opener.open(req, timeout=30) as r:
                resp = Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            resp = Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
        self.steps.append(Step(method, url, resp.status))
        return resp

    def get(self, url: str, **kw) -> Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, form: dict, **kw) -> Response:
        return self.request("POST", url, form=form, **kw)

    def follow(self, resp: Response) -> Response:
        """GET the Location of a redirect, relative to the URL that answered it."""
        assert resp.status in (301, 302, 303, 307), f"not a redirect: {resp.status} {resp.body[:300]!r}"
        return self.get(urllib.parse.urljoin(self.steps[-1].url, resp.headers["location"]))

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        return next((c for c in self.jar if c.name == name), None)

    def cookies_for(self, host: str) -> list[http.cookiejar.Cookie]:
        return [c for c in self.jar if c.domain.lstrip(".") == host]

    def steps_report(self, since: int = 0) -> dict[str, int]:
        """{"1. GET pypi.theedgeworks.ai/": 302, ...}: the hops since ``since``, numbered, with their status."""
        return {f"{i}. {s.label}": s.status for i, s in enumerate(self.steps[since:], 1)}
