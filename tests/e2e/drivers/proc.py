"""Processes and loopback HTTP for the consumer drivers: the part that is not about any one consumer.

``Proc`` runs a server in its own process group, logging to a file, and stops it for sure; ``run`` runs
a command to completion; ``http`` makes one request (no proxy, no redirects); ``clean_env`` is the
environment every consumer gets; ``CheckFailed``/``expect`` are how a driver says a check failed.
Free ports come from tools/ports.py; a process's start, log tail and stop from tools/procs.py.
Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers.tools import ports, procs

LOOPBACK = ports.LOOPBACK
free_port = ports.free_port
port_open = ports.port_open


class CheckFailed(AssertionError):
    pass


def expect(cond, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


# =========================================================================== processes


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a consumer: no proxies (loopback only), no user pip config."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run(cmd: list[str], *, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", clean_env())
    r = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw
    )
    if check and r.returncode != 0:
        shown = " ".join(map(str, cmd))
        raise CheckFailed(
            f"{shown} exited {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        )
    return r


class Proc:
    """A server process in its own process group, logging to a file, stopped for sure."""

    def __init__(self, name: str, cmd: list[str], *, log: Path, env: dict | None = None, cwd: Path | None = None):
        self.name, self.cmd, self.log, self.env, self.cwd = name, [str(c) for c in cmd], Path(log), env, cwd
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Proc":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = self.env if self.env is not None else clean_env()
        self.popen = procs.spawn(self.cmd, log_file=self.log, cwd=self.cwd, env=env, header=False)
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n: int = 60) -> str:
        return procs.tail(self.log, n, missing="")

    def wait_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise CheckFailed(
                    f"{self.name} exited with {self.popen.returncode} before listening on {port}:\n{self.log_tail()}"
                )
            if port_open(port):
                return
            time.sleep(0.1)
        raise CheckFailed(f"{self.name} did not listen on {port} within {timeout}s:\n{self.log_tail()}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10) -> None:
        if self.popen is not None:
            procs.stop_group(self.popen, timeout)

    def __enter__(self) -> "Proc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# =========================================================================== HTTP client


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http(
    url: str,
    *,
    method: str = "GET",
    headers: dict | None = None,
    data: bytes | None = None,
    basic: tuple[str, str] | None = None,
    timeout: float = 15,
) -> Response:
    """One request, no proxy, no redirect following; returns status for 4xx/5xx too."""
    h = dict(headers or {})
    if basic:
        h["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"only loopback http URLs: {url}")
    req = urllib.request.Request(url, data=data, method=method, headers=h)  # noqa: S310 (checked above)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        hdrs = {}
        for k, v in e.headers.items():
            k = k.lower()
            hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
        return Response(e.code, hdrs, e.read())


def set_cookies(resp: Response) -> dict[str, str]:
    out = {}
    for line in resp.headers.get("set-cookie", "").split("\n"):
        if "=" in line:
            nv = line.split(";", 1)[0].strip()
            n, v = nv.split("=", 1)
            out[n] = v
    return out
