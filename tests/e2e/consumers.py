"""The real consumers of the devpi Secrets, driven as reusable checks.

Every ``check_*`` function takes the Secret bytes exactly as they sit in the Secret's
``data`` (decoded from base64 once, as the kubelet does when it projects them into a
file or an env var), starts the consumer on free loopback ports, asserts what the
consumer must accept and refuse, stops everything (also on failure) and returns a small
report dict. They do not care where the bytes came from: the tests feed them values made
locally in the contract's formats and values that site.yml wrote into a cluster.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server as http_server
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from helpers import load_tool

REPO = Path(__file__).resolve().parents[2]
HOST = "pypi.theedgeworks.ai"
LOOPBACK = "127.0.0.1"


tools = load_tool("consumers.py", "theedgeworks_tools_consumers")  # where the consumer binaries are
ConsumerMissing = tools.ConsumerMissing


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


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
        fh = open(self.log, "ab")
        try:
            self.popen = subprocess.Popen(
                self.cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env if self.env is not None else clean_env(),
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            fh.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

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
        p = self.popen
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
            try:
                p.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

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


# =========================================================================== devpi-secret → devpi-server


# devpi-server derives its token key from the secret with argon2id at 512 MiB x 16 passes
# (config.py DEFAULT_ARGON2_*): ~20 s per start on 2 cores. The tests lower the hidden
# --argon2-* options so a start takes ~2 s; the secret's role (same secret = same key) is
# unchanged. Set E2E_DEVPI_FULL_ARGON2=1 to run with the production defaults.
def _argon2_args() -> list[str]:
    if os.environ.get("E2E_DEVPI_FULL_ARGON2") == "1":
        return []
    return ["--argon2-memory-cost", "8192", "--argon2-time-cost", "1", "--argon2-parallelism", "1"]


# How the Secret's key reaches devpi-server in the Deployment, and what devpi-server says.
# The literal parent of the file is what devpi checks: see FACTS (devpi-server config.py).
MOUNT_LAYOUTS = {
    # name: (folder mode, file mode, accepted?)
    "secret-volume-dir": (0o1777, 0o644, False),  # volume mount of the Secret, default mode
    "secret-volume-dir-0400": (0o1777, 0o400, False),  # volume mount, defaultMode 0400: folder still 1777
    "subpath-0400-fsgroup": (0o755, 0o440, False),  # subPath + defaultMode 0400 + fsGroup adds g+r
    "subpath-0400": (0o755, 0o400, True),  # subPath mount of the one key, defaultMode 0400
    "init-copy-0600": (0o700, 0o600, True),  # init container copies it into an emptyDir 0700 as 0600
}


def write_secretfile(
    folder: Path, data: bytes, *, folder_mode: int = 0o755, file_mode: int = 0o400, name: str = "secret"
) -> Path:
    """Place ``data`` as the kubelet would: exact bytes, given file and folder modes."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / name
    if f.exists():
        f.chmod(0o600)
        f.unlink()
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    f.chmod(file_mode)
    folder.chmod(folder_mode)
    return f


def devpi_validate_secretfile(path: Path) -> subprocess.CompletedProcess:
    """``devpi-gen-secret --secretfile F`` on an existing file only validates it."""
    before = path.read_bytes()
    r = run([tools.devpi_bin("devpi-gen-secret"), "--secretfile", str(path)], check=False)
    expect(path.read_bytes() == before, "devpi-gen-secret changed an existing secret file")
    return r


def check_devpi_mount_layouts(secret: bytes, workdir: Path) -> dict[str, bool]:
    """devpi-gen-secret's verdict on each Deployment layout; asserts the expected ones."""
    out = {}
    for name, (dmode, fmode, want) in MOUNT_LAYOUTS.items():
        f = write_secretfile(workdir / name / "mnt", secret, folder_mode=dmode, file_mode=fmode)
        r = devpi_validate_secretfile(f)
        out[name] = r.returncode == 0
        expect(
            out[name] == want,
            f"layout {name}: devpi-gen-secret rc={r.returncode}, expected "
            f"{'accept' if want else 'reject'}\n{r.stdout}{r.stderr}",
        )
    return out


class DevpiServer:
    """devpi-server 6 on a loopback port, with its own serverdir, never reaching upstream."""

    def __init__(self, workdir: Path, *, root_password: str | None = None):
        self.workdir = workdir
        self.serverdir = workdir / "serverdir"
        self.root_password = root_password or secrets.token_urlsafe(16)
        self.port: int | None = None
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def init(self) -> None:
        run(
            [
                tools.devpi_bin("devpi-init"),
                "--serverdir",
                str(self.serverdir),
                "--no-root-pypi",
                # --opt=value: a random password may start with '-' (token_urlsafe), which argparse takes for an option.
                f"--root-passwd={self.root_password}",
            ]
        )

    def start(self, secretfile: Path, *, timeout: float = 90) -> None:
        self.stop()
        self.port = self.port or free_port()
        self.starts += 1
        self.proc = Proc(
            f"devpi-server#{self.starts}",
            [
                tools.devpi_bin("devpi-server"),
                "--secretfile",
                str(secretfile),
                "--serverdir",
                str(self.serverdir),
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--offline-mode",
                *_argon2_args(),
            ],
            log=self.workdir / f"devpi-server-{self.starts}.log",
        ).start()
        self.proc.wait_port(self.port, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if http(self.url + "/+api", headers={"Accept": "application/json"}).status == 200:
                    return
            time.sleep(0.1)
        raise CheckFailed(f"devpi-server /+api not ready:\n{self.proc.log_tail()}")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None

    def auth_status(self, x_devpi_auth: str, *, via: str | None = None) -> list:
        """devpi's own verdict on a login token: ["ok", user, groups] or ["noauth"/"expired"/...]."""
        r = http((via or self.url) + "/+api", headers={"Accept": "application/json", "X-Devpi-Auth": x_devpi_auth})
        expect(r.status == 200, f"/+api {r.status}")
        return r.json()["result"]["authstatus"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class DevpiClient:
    """devpi-client 7 with its own client dir (token store: auth.json)."""

    def __init__(self, clientdir: Path):
        self.clientdir = clientdir
        clientdir.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return run(
            [tools.devpi_bin("devpi"), *args],
            check=check,
            timeout=timeout,
            env=clean_env(DEVPI_CLIENTDIR=str(self.clientdir)),
        )

    def token(self, server_url: str, user: str) -> str:
        """The saved login token, as the X-Devpi-Auth header devpi-client sends."""
        data = json.loads((self.clientdir / "auth.json").read_text())
        for u, tok in data["auth"][server_url.rstrip("/") + "/"]:
            if u == user:
                return base64.b64encode(f"{u}:{tok}".encode()).decode()
        raise CheckFailed(f"no token for {user} in auth.json")


def build_test_wheel(workdir: Path, name: str, version: str) -> Path:
    """A tiny real wheel built offline with setuptools (no index, no build isolation)."""
    proj = workdir / f"src-{name}-{version}"
    mod = name.replace("-", "_")
    (proj / mod).mkdir(parents=True, exist_ok=True)
    (proj / mod / "__init__.py").write_text(f'VERSION = "{version}"\n')
    (proj / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "e2e probe"\n'
        f'[tool.setuptools]\npackages = ["{mod}"]\n'
    )
    out = workdir / "dist"
    run(
        [
            tools.devpi_bin("python"),
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-w",
            str(out),
            str(proj),
        ],
        cwd=workdir,
    )
    wheels = sorted(out.glob(f"{mod}-{version}-*.whl"))
    expect(wheels, f"no wheel built in {out}")
    return wheels[0]


@dataclass
class DevpiStack:
    """A running devpi-server with a user, a private index and one uploaded package."""

    server: DevpiServer
    client: DevpiClient
    secretfile: Path
    user: str
    password: str
    index: str
    package: str
    wheel: Path
    notes: list[str] = field(default_factory=list)

    @property
    def simple_path(self) -> str:
        return f"/{self.user}/{self.index}/+simple/"


def _devpi_login_setup(server: DevpiServer, client: DevpiClient, user: str, password: str, index: str) -> None:
    client("use", server.url)
    # --password=value, not two words: a random password may start with '-'.
    client("login", "root", f"--password={server.root_password}")
    client("user", "-c", user, f"password={password}")
    client("login", user, f"--password={password}")
    # bases= : no root/pypi behind it, so nothing is ever looked up upstream.
    client("index", "-c", index, "bases=", "volatile=False")
    client("use", f"{user}/{index}")


@contextlib.contextmanager
def devpi_stack(secret: bytes, workdir: Path):
    """devpi-server started with ``secret`` (subPath layout, 0400), user + index + uploaded wheel."""
    workdir.mkdir(parents=True, exist_ok=True)
    f = write_secretfile(workdir / "etc-devpi", secret, folder_mode=0o755, file_mode=0o400)
    r = devpi_validate_secretfile(f)
    expect(r.returncode == 0, f"devpi-gen-secret rejects the Secret's bytes:\n{r.stdout}{r.stderr}")
    server = DevpiServer(workdir)
    try:
        server.init()
        server.start(f)
        client = DevpiClient(workdir / "client")
        user, password, index = "alice", secrets.token_urlsafe(16), "private"
        _devpi_login_setup(server, client, user, password, index)
        pkg = "theedgeworks-e2e-probe"
        wheel = build_test_wheel(workdir, pkg, "1.0.0")
        client("upload", str(wheel))
        yield DevpiStack(server, client, f, user, password, index, pkg, wheel)
    finally:
        server.stop()


def check_devpi_secret(secret: bytes, rotated: bytes, workdir: Path) -> dict:
    """The whole devpi-secret story: validate, serve, login, restart, rotate."""
    expect(secret != rotated, "rotated secret equals the old one")
    report: dict = {}
    workdir.mkdir(parents=True, exist_ok=True)
    f = write_secretfile(workdir / "etc-devpi", secret, folder_mode=0o755, file_mode=0o400)
    r = devpi_validate_secretfile(f)
    expect(r.returncode == 0, f"devpi-gen-secret rejects the Secret:\n{r.stdout}{r.stderr}")
    report["validated"] = True
    with DevpiServer(workdir) as server:
        server.init()
        server.start(f)
        client = DevpiClient(workdir / "client")
        user, password = "alice", secrets.token_urlsafe(16)
        _devpi_login_setup(server, client, user, password, "dev")
        token = client.token(server.url, user)
        st = server.auth_status(token)
        expect(st[:2] == ["ok", user], f"fresh login token not accepted: {st}")

        # Restart with the same Secret: the saved login still works, for reads and for an upload.
        server.start(f)
        st = server.auth_status(token)
        expect(st[:2] == ["ok", user], f"token rejected after restart with the same secret: {st}")
        wheel = build_test_wheel(workdir, "theedgeworks-e2e-restart", "1.0.0")
        client("upload", str(wheel))
        r = http(f"{server.url}/{user}/dev/+simple/theedgeworks-e2e-restart/")
        expect(r.status == 200 and wheel.name.encode() in r.body, f"uploaded wheel not listed: {r.status}")
        report["token_survives_restart"] = True

        # Restart with the rotated Secret: the same token is no longer honoured.
        f = write_secretfile(workdir / "etc-devpi", rotated, folder_mode=0o755, file_mode=0o400)
        r = devpi_validate_secretfile(f)
        expect(r.returncode == 0, f"devpi-gen-secret rejects the rotated Secret:\n{r.stdout}{r.stderr}")
        server.start(f)
        st = server.auth_status(token)
        expect(st[0] != "ok", f"token still accepted after rotation: {st}")
        wheel2 = build_test_wheel(workdir, "theedgeworks-e2e-restart", "1.0.1")
        up = client("upload", str(wheel2), check=False)
        expect(
            up.returncode != 0 or "403" in up.stdout + up.stderr or "401" in up.stdout + up.stderr,
            f"upload with a pre-rotation token succeeded:\n{up.stdout}{up.stderr}",
        )
        r = http(f"{server.url}/{user}/dev/+simple/theedgeworks-e2e-restart/")
        expect(wheel2.name.encode() not in r.body, "upload with a stale token landed in the index")
        report["token_rejected_after_rotation"] = st[0]
        # ... and a fresh login works again under the new Secret.
        client("login", user, f"--password={password}")
        st = server.auth_status(client.token(server.url, user))
        expect(st[:2] == ["ok", user], f"re-login after rotation failed: {st}")
        report["relogin_after_rotation"] = True
    return report


# =========================================================================== nginx


def nginx_user_line() -> str:
    """As root the master would drop workers to 'nobody', who cannot read our 0600 files
    under a 0700 temp dir; run the workers as the current user instead."""
    if os.geteuid() != 0:
        return ""  # the user directive only applies to a root master
    import grp
    import pwd

    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


class Nginx:
    """A non-daemon nginx under its own prefix: config, logs and temp paths all inside it."""

    def __init__(self, prefix: Path, servers: str):
        self.prefix = prefix
        for d in ("logs", "tmp", "html"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        self.conf = prefix / "nginx.conf"
        p = prefix
        self.conf.write_text(f"""
{nginx_user_line()}
worker_processes 1;
error_log {p}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    client_max_body_size 64m;
    server_tokens off;
{servers}
}}
""")
        self.proc: Proc | None = None

    def _cmd(self, *extra: str) -> list[str]:
        return [
            tools.nginx_binary(),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf),
            "-e",
            f"{self.prefix}/logs/error.log",
            *extra,
        ]

    def test_config(self) -> subprocess.CompletedProcess:
        return run(self._cmd("-t", "-g", f"pid {self.prefix}/nginx.pid;"), check=False)

    def start(self, ports: list[int]) -> "Nginx":
        t = self.test_config()
        expect(t.returncode == 0, f"nginx -t failed:\n{t.stderr}")
        self.proc = Proc(
            "nginx",
            self._cmd("-g", f"daemon off; pid {self.prefix}/nginx.pid;"),
            log=self.prefix / "logs" / "stdout.log",
        ).start()
        for port in ports:
            self.proc.wait_port(port, 20)
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def access_log_size(self) -> int:
        p = self.prefix / "logs" / "access.log"
        return p.stat().st_size if p.exists() else 0

    def access_log(self, since: int = 0) -> list[str]:
        with open(self.prefix / "logs" / "access.log", "rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace").splitlines()

    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _auth_location(authfile: Path, upstream: str | None) -> str:
    # What ingress-nginx renders for auth-type: basic / auth-secret-type: auth-file: the
    # htpasswd file from the Secret's `auth` key, and the Authorization header dropped
    # before the request reaches the backend.
    if upstream:
        backend = f"""
            proxy_set_header Authorization "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Outside-Url $scheme://$http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_pass {upstream};"""
    else:
        backend = "try_files /index.html =404;"
    return f"""
        location / {{
            auth_basic "Authentication Required";
            auth_basic_user_file {authfile};
            {backend}
        }}"""


def write_authfile(folder: Path, auth: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "auth"
    f.write_bytes(auth)
    f.chmod(0o600)
    return f


def parse_htpasswd(auth: bytes) -> list[tuple[str, str]]:
    lines = [ln for ln in auth.decode("utf-8").split("\n") if ln]
    return [tuple(ln.split(":", 1)) for ln in lines]  # type: ignore[misc]


def check_htpasswd_format(auth: bytes) -> str:
    """The contract: one `user:$2y$05$...` line ending in a newline. Returns the user."""
    expect(auth.endswith(b"\n") and not auth.endswith(b"\n\n"), f"auth must be one line ending in \\n: {auth[-5:]!r}")
    entries = parse_htpasswd(auth)
    expect(len(entries) == 1, f"expected one htpasswd entry, got {len(entries)}")
    user, h = entries[0]
    expect(user and ":" not in user, "bad user")
    expect(h.startswith("$2y$05$") and len(h) == 60, f"expected a $2y$ cost-5 bcrypt hash, got {h[:7]}… ({len(h)})")
    return user


def check_basic_auth_nginx(auth: bytes, password: str, workdir: Path) -> dict:
    """htpasswd and nginx both accept the right password and refuse wrong ones / unknown users."""
    user = check_htpasswd_format(auth)
    authfile = write_authfile(workdir / "secrets", auth)
    ht = tools.htpasswd_binary()
    for pw, want in ((password, 0), (password + "x", 3)):
        r = run([ht, "-vb", str(authfile), user, pw], check=False)
        expect(r.returncode == want, f"htpasswd -vb rc={r.returncode}, expected {want}: {r.stderr}")
    r = run([ht, "-vb", str(authfile), "nobody-" + user, password], check=False)
    expect(r.returncode == 6, f"htpasswd -vb unknown user rc={r.returncode}, expected 6")

    port = free_port()
    ng = Nginx(
        workdir / "nginx",
        f"""
    server {{
        listen {LOOPBACK}:{port};
        root {workdir / "nginx" / "html"};
        {_auth_location(authfile, None)}
    }}""",
    )
    (ng.prefix / "html" / "index.html").write_text("devpi-basic-auth ok\n")
    with ng:
        ng.start([port])
        url = f"http://{LOOPBACK}:{port}/"
        results = {
            "right": http(url, basic=(user, password)).status,
            "wrong_password": http(url, basic=(user, password[:-1] + ("A" if password[-1] != "A" else "B"))).status,
            "unknown_user": http(url, basic=("x" + user, password)).status,
            "no_credentials": http(url).status,
        }
        expect(
            results == {"right": 200, "wrong_password": 401, "unknown_user": 401, "no_credentials": 401},
            f"nginx basic auth: {results}\n{ng.error_log()[-2000:]}",
        )
    return {"user": user, **results}


def pip_download(index_url: str, package: str, dest: Path, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """A real pip, isolated from any user config, never asking for input or keyring."""
    return run(
        [
            tools.devpi_bin("python"),
            "-m",
            "pip",
            "download",
            "--isolated",
            "--no-deps",
            "--no-cache-dir",
            "--no-input",
            "--keyring-provider",
            "disabled",
            "--disable-pip-version-check",
            "--index-url",
            index_url,
            "-d",
            str(dest),
            package,
        ],
        check=False,
        timeout=timeout,
    )


def check_pip_through_nginx(auth: bytes, password: str, stack: DevpiStack, workdir: Path) -> dict:
    """nginx (ingress-style basic auth, Authorization stripped) in front of devpi-server:
    pip fetches the private package with the Secret's credentials and is refused without."""
    user = check_htpasswd_format(auth)
    authfile = write_authfile(workdir / "secrets", auth)
    port = free_port()
    ng = Nginx(
        workdir / "nginx-proxy",
        f"""
    server {{
        listen {LOOPBACK}:{port};
        {_auth_location(authfile, stack.server.url)}
    }}""",
    )
    report: dict = {}
    with ng:
        ng.start([port])
        base = f"http://{LOOPBACK}:{port}"
        creds = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"

        ok_dir = workdir / "pip-ok"
        r = pip_download(f"http://{creds}@{LOOPBACK}:{port}{stack.simple_path}", stack.package, ok_dir)
        got = list(ok_dir.glob("*.whl")) if ok_dir.exists() else []
        expect(
            r.returncode == 0 and len(got) == 1,
            f"pip download with credentials failed rc={r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}\n"
            f"nginx:\n{ng.error_log()[-1500:]}",
        )
        expect(
            hashlib.sha256(got[0].read_bytes()).digest() == hashlib.sha256(stack.wheel.read_bytes()).digest(),
            "pip fetched different bytes than were uploaded",
        )
        report["pip_with_credentials"] = got[0].name

        no_dir = workdir / "pip-no"
        mark = ng.access_log_size()
        r = pip_download(f"{base}{stack.simple_path}", stack.package, no_dir)
        expect(
            r.returncode != 0 and not (no_dir.exists() and any(no_dir.iterdir())),
            f"pip without credentials got the package:\n{r.stdout}",
        )
        # pip does not print the status; nginx's access log has it.
        hits = [ln for ln in ng.access_log(mark) if f"{stack.simple_path}{stack.package}/" in ln and "pip/" in ln]
        expect(hits and all('" 401 ' in ln for ln in hits), f"pip without credentials: nginx log {hits}")
        report["pip_without_credentials"] = f"refused ({len(hits)} x 401)"

        bad_dir = workdir / "pip-bad"
        r = pip_download(
            f"http://{urllib.parse.quote(user)}:wrong-{secrets.token_hex(4)}@{LOOPBACK}:{port}{stack.simple_path}",
            stack.package,
            bad_dir,
        )
        expect(r.returncode != 0, "pip with a wrong password got the package")
        report["pip_wrong_password"] = "refused"

        # The file link itself is protected too, not only the simple page.
        page = http(f"{base}{stack.simple_path}{stack.package}/", basic=(user, password))
        expect(page.status == 200, f"simple page via nginx: {page.status}")
        href = page.body.decode().split('href="', 1)[1].split('"', 1)[0]
        file_url = urllib.parse.urljoin(f"{base}{stack.simple_path}{stack.package}/", href).split("#", 1)[0]
        expect(http(file_url).status == 401, "package file reachable without credentials")
        expect(http(file_url, basic=(user, password)).status == 200, "package file not served with credentials")

        # devpi's own login passes through: nginx drops Authorization, X-Devpi-Auth goes on.
        tok = stack.client.token(stack.server.url, stack.user)
        st = stack.server.auth_status(tok, via=None)
        r = http(f"{base}/+api", headers={"Accept": "application/json", "X-Devpi-Auth": tok}, basic=(user, password))
        expect(
            r.status == 200 and r.json()["result"]["authstatus"][:2] == ["ok", stack.user],
            f"devpi token through nginx: {r.status} {r.body[:200]!r} (direct: {st})",
        )
        report["devpi_token_through_nginx"] = True
    return report


def check_tls_nginx(tls_crt: bytes, tls_key: bytes, ca_pem: bytes, workdir: Path, host: str = HOST) -> dict:
    """nginx serves the Secret's pair for ``host``; clients that verify against the CA and
    that name succeed, clients expecting another name fail."""
    sec = workdir / "tls"
    sec.mkdir(parents=True, exist_ok=True)
    (sec / "tls.crt").write_bytes(tls_crt)
    (sec / "tls.key").write_bytes(tls_key)
    (sec / "tls.key").chmod(0o600)
    cafile = sec / "ca.crt"
    cafile.write_bytes(ca_pem)
    port = free_port()
    ng = Nginx(
        workdir / "nginx-tls",
        f"""
    server {{
        listen {LOOPBACK}:{port} ssl;
        server_name {host};
        ssl_certificate {sec / "tls.crt"};
        ssl_certificate_key {sec / "tls.key"};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ default_type text/plain; return 200 "tls ok\\n"; }}
    }}""",
    )
    report: dict = {}
    with ng:
        ng.start([port])
        ctx = ssl.create_default_context(cafile=str(cafile))
        try:
            with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    der = tls.getpeercert(binary_form=True)
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                    resp = b""
                    while chunk := tls.recv(4096):
                        resp += chunk
                    report["python_ssl"] = tls.version()
        except ssl.SSLCertVerificationError as e:
            raise CheckFailed(
                f"TLS client verifying {host} against the CA refused nginx's cert: {e.verify_message}"
            ) from e
        except ssl.SSLError as e:
            raise CheckFailed(f"TLS handshake for {host} failed: {e}") from e
        expect(resp.startswith(b"HTTP/1.1 200") and b"tls ok" in resp, f"bad response over TLS: {resp[:200]!r}")
        leaf_der = ssl.PEM_cert_to_DER_cert(
            tls_crt.decode().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        )
        expect(der == leaf_der, "nginx served a different certificate than tls.crt")

        other = "other.example.test"
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname=other):
                    raise CheckFailed(f"TLS handshake for {other} succeeded with a cert for {host}")
            except ssl.SSLCertVerificationError as e:
                report["python_ssl_other_host"] = f"refused: {e.verify_message}"

        # Without the test CA the chain is not trusted.
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
            try:
                with ssl.create_default_context().wrap_socket(raw, server_hostname=host):
                    raise CheckFailed("TLS handshake succeeded without trusting the test CA")
            except ssl.SSLCertVerificationError as e:
                report["python_ssl_untrusted"] = f"refused: {e.verify_message}"

        curl = shutil.which("curl")
        if curl:

            def curl_as(name):
                url = f"https://{name}:{port}/"
                resolve = f"{name}:{port}:{LOOPBACK}"
                cmd = [curl, "-sS", "--max-time", "10", "--cacert", str(cafile), "--resolve", resolve, url]
                return run(cmd, check=False)

            ok = curl_as(host)
            expect(
                ok.returncode == 0 and "tls ok" in ok.stdout, f"curl --resolve {host}: rc={ok.returncode} {ok.stderr}"
            )
            bad = curl_as(other)
            expect(bad.returncode == 60, f"curl for {other} rc={bad.returncode}, expected 60 (peer cert): {bad.stderr}")
            report["curl"] = "ok; other host rc=60"
    return report


def nginx_accepts_pair(tls_crt: bytes, tls_key: bytes, workdir: Path) -> tuple[bool, str]:
    """``nginx -t`` with the pair: what a real server says about a bad cert/key (hardening)."""
    sec = workdir / "tls"
    sec.mkdir(parents=True, exist_ok=True)
    (sec / "tls.crt").write_bytes(tls_crt)
    (sec / "tls.key").write_bytes(tls_key)
    ng = Nginx(
        workdir / "nginx-t",
        f"""
    server {{
        listen {LOOPBACK}:{free_port()} ssl;
        ssl_certificate {sec / "tls.crt"};
        ssl_certificate_key {sec / "tls.key"};
    }}""",
    )
    r = ng.test_config()
    return r.returncode == 0, r.stderr


# =========================================================================== oauth2-proxy


def _b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass
class OidcProvider:
    """Where oauth2-proxy sends users and redeems codes.

    ``dummy_oidc`` (below) runs one on loopback. A real Keycloak later: use
    ``OidcProvider.keycloak(issuer)``; it drops ``--skip-oidc-discovery`` so oauth2-proxy
    reads the endpoints from the issuer, which is the only thing the tests then change."""

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


class DummyOidc:
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

        class H(http_server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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

        self.httpd = http_server.ThreadingHTTPServer((LOOPBACK, self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class OAuth2ProxyRun:
    started: bool
    ping: int | None
    output: str
    port: int
    proc: Proc | None = None


def oauth2_proxy_cmd(client_id: str, client_secret: str, port: int, provider: OidcProvider) -> list[str]:
    return [
        tools.oauth2_proxy_binary(),
        *provider.flags(),
        f"--client-id={client_id}",
        f"--client-secret={client_secret}",
        f"--http-address={LOOPBACK}:{port}",
        "--upstream=static://200",
        "--email-domain=*",
        f"--redirect-url=http://{LOOPBACK}:{port}/oauth2/callback",
        "--cookie-secure=false",
        "--reverse-proxy=false",
        "--skip-provider-button=true",
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
):
    """Start oauth2-proxy with the Secret's three values (cookie-secret via env, as a
    Deployment's secretKeyRef would); yields an OAuth2ProxyRun whether or not it started."""
    port = free_port()
    provider = provider or unreachable_oidc()
    workdir.mkdir(parents=True, exist_ok=True)
    env = clean_env(OAUTH2_PROXY_COOKIE_SECRET=cookie_secret.decode())
    proc = Proc(
        "oauth2-proxy",
        oauth2_proxy_cmd(client_id.decode(), client_secret.decode(), port, provider),
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


def check_oauth2_proxy_login(client_id: bytes, client_secret: bytes, cookie_secret: bytes, workdir: Path) -> dict:
    """A full OIDC code flow through oauth2-proxy against DummyOidc: proves client-id (login
    redirect, id_token audience), client-secret (token endpoint) and cookie-secret (session
    cookie; another instance with another secret refuses it)."""
    cid = client_id.decode()
    with DummyOidc(cid, client_secret.decode()) as idp, oauth2_proxy(
        client_id, client_secret, cookie_secret, workdir, idp.provider
    ) as o2p:
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
        cookie = "; ".join(f"{k}={v}" for k, v in session.items())
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


# =========================================================================== local values (contract formats)


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
