"""Install and locate the real consumers of the devpi Secrets for the e2e tests.

    python tools/install_consumers.py install   # apt nginx + apache2-utils, devpi venv, oauth2-proxy build
    python tools/install_consumers.py check     # exit 1 and say what is missing
    python tools/install_consumers.py paths     # print where each binary is

Consumers and where they come from:

* nginx, htpasswd: Debian packages ``nginx`` and ``apache2-utils`` (apt-get).
* devpi-server 6.x / devpi-client 7.x: PyPI, in a venv of their own under the cache
  (their dependencies must not meet ansible's).
* oauth2-proxy: built from the Go module ``tools/oauth2-proxy`` into the cache
  (tools/gobuild.py, keyed by its go.mod and go.sum).

The cache is tools/cache.py's: ``$DEVPI_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/theedgeworks-devpi``;
nothing of it lives in the repo. The tests import this module and call the ``*_binary`` helpers: each
raises :class:`ConsumerMissing` with the reason and the install command when a consumer
is not there, so a test fails instead of skipping.

Standard library only: it runs under any Python >= 3.9.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, flock, short_hash  # noqa: E402
from gobuild import GoBuildError, go_build  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OAUTH2_PROXY_MODULE_DIR = REPO / "tools" / "oauth2-proxy"
OAUTH2_PROXY_PACKAGE = "github.com/oauth2-proxy/oauth2-proxy/v7"
OAUTH2_PROXY_VERSION = "v7.15.6"  # must match tools/oauth2-proxy/go.mod

# Top-level pins of the devpi venv. setuptools builds the test package offline
# (pip wheel --no-build-isolation --no-index), so the tests never reach an index.
DEVPI_REQUIREMENTS = (
    "devpi-server==6.20.3",
    "devpi-client==7.3.0",
    "devpi-web==5.1.1",  # the web UI the front door serves behind oauth2-proxy
    "setuptools==80.9.0",
)

APT_PACKAGES = {"nginx": "/usr/sbin/nginx", "apache2-utils": "/usr/bin/htpasswd"}

INSTALL_HINT = "run: python tools/install_consumers.py install"


class ConsumerMissing(RuntimeError):
    """A consumer binary is not installed/built; the message says why and what to run."""


# --------------------------------------------------------------------------- paths


def devpi_venv_dir() -> Path:
    pyver = "%d.%d" % sys.version_info[:2]
    key = short_hash(pyver.encode(), "\n".join(DEVPI_REQUIREMENTS).encode())
    return cache_root() / f"venv-devpi-py{pyver}-{key}"


def oauth2_proxy_cache_dir() -> Path:
    key = short_hash(
        (OAUTH2_PROXY_MODULE_DIR / "go.mod").read_bytes(),
        (OAUTH2_PROXY_MODULE_DIR / "go.sum").read_bytes(),
    )
    return cache_root() / f"oauth2-proxy-{key}"


# --------------------------------------------------------------------------- lookups


def nginx_binary() -> str:
    path = shutil.which("nginx") or (APT_PACKAGES["nginx"] if os.access(APT_PACKAGES["nginx"], os.X_OK) else None)
    if not path:
        raise ConsumerMissing(f"nginx is not installed (Debian package 'nginx'); {INSTALL_HINT}")
    return path


def htpasswd_binary() -> str:
    path = shutil.which("htpasswd")
    if not path:
        raise ConsumerMissing(f"htpasswd is not installed (Debian package 'apache2-utils'); {INSTALL_HINT}")
    return path


def devpi_bin(name: str) -> str:
    """Path of an executable in the devpi venv: devpi-server, devpi-init, devpi-gen-secret, devpi, python."""
    venv = devpi_venv_dir()
    exe = venv / "bin" / name
    if not (venv / ".complete").exists() or not exe.exists():
        raise ConsumerMissing(f"devpi venv {venv} is missing or incomplete (no {name}); {INSTALL_HINT}")
    return str(exe)


def oauth2_proxy_binary() -> str:
    exe = oauth2_proxy_cache_dir() / "oauth2-proxy"
    if not os.access(exe, os.X_OK):
        raise ConsumerMissing(
            f"oauth2-proxy {OAUTH2_PROXY_VERSION} is not built at {exe}; {INSTALL_HINT} (needs Go and the module proxy)"
        )
    return str(exe)


def missing() -> list[str]:
    out = []
    for fn in (nginx_binary, htpasswd_binary, lambda: devpi_bin("devpi-server"), oauth2_proxy_binary):
        try:
            fn()
        except ConsumerMissing as e:
            out.append(str(e))
    return out


# --------------------------------------------------------------------------- install steps


def _log(msg: str) -> None:
    print(f"[consumers] {msg}", flush=True)


@contextlib.contextmanager
def _step(what: str):
    t0 = time.monotonic()
    _log(f"{what} ...")
    yield
    _log(f"{what}: done in {time.monotonic() - t0:.1f}s")


def _run(cmd: list[str], **kw) -> None:
    _log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def install_apt() -> None:
    want = [pkg for pkg, path in APT_PACKAGES.items() if not os.access(path, os.X_OK)]
    if not want:
        _log("apt: nginx and apache2-utils already installed")
        return
    if os.geteuid() != 0:
        raise ConsumerMissing(f"need root to apt-get install {' '.join(want)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with _step(f"apt-get install {' '.join(want)}"):
        # The lists may be absent on a fresh machine: update first when the package is unknown.
        known = subprocess.run(["apt-cache", "show", *want], check=False, capture_output=True, env=env).returncode == 0
        if not known:
            _run(["apt-get", "update", "-qq"], env=env)
        # nginx's postinst would start a system nginx on :80; the tests run their own, so
        # ask invoke-rc.d not to (policy-rc.d exit 101), for this install only.
        policy = Path("/usr/sbin/policy-rc.d")
        added_policy = False
        if not policy.exists():
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            added_policy = True
        try:
            _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *want], env=env)
        finally:
            if added_policy:
                policy.unlink()


def install_devpi_venv() -> None:
    venv = devpi_venv_dir()
    if (venv / ".complete").exists():
        _log(f"devpi venv: cached at {venv}")
        return
    with flock(cache_root() / ".venv-devpi.lock"), _step(f"devpi venv {venv}"):
        if (venv / ".complete").exists():
            return
        if venv.exists():
            shutil.rmtree(venv)
        # Build at the final path (venv scripts embed their own path), mark complete last.
        _run([sys.executable, "-m", "venv", str(venv)])
        _run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *DEVPI_REQUIREMENTS,
            ]
        )
        (venv / ".complete").write_text("\n".join(DEVPI_REQUIREMENTS) + "\n")


def build_oauth2_proxy() -> None:
    exe = oauth2_proxy_cache_dir() / "oauth2-proxy"
    if os.access(exe, os.X_OK):
        _log(f"oauth2-proxy: cached at {exe}")
        return
    with _step(f"go build oauth2-proxy {OAUTH2_PROXY_VERSION} -> {exe}"):
        go_build(
            OAUTH2_PROXY_MODULE_DIR,
            exe,
            package=OAUTH2_PROXY_PACKAGE,
            flags=["-mod=readonly", "-trimpath"],
            ldflags=f"-s -w -X {OAUTH2_PROXY_PACKAGE}/pkg/version.VERSION={OAUTH2_PROXY_VERSION}",
            env={"CGO_ENABLED": "0"},
            what=f"oauth2-proxy {OAUTH2_PROXY_VERSION}",
            log=_log,
        )


def install() -> None:
    t0 = time.monotonic()
    install_apt()
    install_devpi_venv()
    build_oauth2_proxy()
    _log(f"install: all consumers ready in {time.monotonic() - t0:.1f}s")


def versions() -> dict[str, str]:
    """Versions of the installed consumers (for the test report)."""

    def out(cmd):
        r = subprocess.run(cmd, check=False, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"

    v = {}
    with contextlib.suppress(ConsumerMissing):
        v["nginx"] = out([nginx_binary(), "-v"])
    with contextlib.suppress(ConsumerMissing):
        v["devpi-server"] = out([devpi_bin("devpi-server"), "--version"])
        v["devpi-client"] = out([devpi_bin("devpi"), "--version"])
    with contextlib.suppress(ConsumerMissing):
        v["oauth2-proxy"] = out([oauth2_proxy_binary(), "--version"])
    with contextlib.suppress(ConsumerMissing):
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "apache2-utils"], check=False, capture_output=True, text=True
        )
        v["htpasswd"] = f"apache2-utils {r.stdout.strip()}"
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "command", choices=["install", "check", "paths", "versions", "build-oauth2-proxy", "devpi-venv", "apt"]
    )
    a = p.parse_args(argv)
    try:
        if a.command == "install":
            install()
        elif a.command == "apt":
            install_apt()
        elif a.command == "devpi-venv":
            install_devpi_venv()
        elif a.command == "build-oauth2-proxy":
            build_oauth2_proxy()
        elif a.command == "check":
            miss = missing()
            for m in miss:
                print(m)
            return 1 if miss else 0
        elif a.command == "paths":
            print(f"cache: {cache_root()}")
            print(f"devpi venv: {devpi_venv_dir()}")
            print(f"oauth2-proxy: {oauth2_proxy_cache_dir() / 'oauth2-proxy'}")
            for name, fn in (("nginx", nginx_binary), ("htpasswd", htpasswd_binary)):
                try:
                    print(f"{name}: {fn()}")
                except ConsumerMissing as e:
                    print(f"{name}: MISSING ({e})")
        elif a.command == "versions":
            for k, val in versions().items():
                print(f"{k}: {val}")
    except (ConsumerMissing, GoBuildError, subprocess.CalledProcessError) as e:
        print(f"[consumers] FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
