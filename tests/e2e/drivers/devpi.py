"""devpi-server 6 and devpi-client 7, the consumers of the ``devpi-secret`` Secret.

The Secret's bytes become devpi-server's ``--secretfile`` (laid out as each Deployment variant
would mount it, see MOUNT_LAYOUTS); ``check_devpi_secret`` proves that login tokens survive a
restart with the same Secret and die with a rotated one. ``devpi_stack`` is a running server with
a user, a private index and one uploaded wheel, for the nginx driver's pip-through-nginx check.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.tools import install_consumers as installed
from tests.e2e.drivers.proc import LOOPBACK, CheckFailed, Proc, clean_env, expect, free_port, http, run


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
    r = run([installed.devpi_bin("devpi-gen-secret"), "--secretfile", str(path)], check=False)
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
                installed.devpi_bin("devpi-init"),
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
                installed.devpi_bin("devpi-server"),
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
            [installed.devpi_bin("devpi"), *args],
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
            installed.devpi_bin("python"),
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
