"""Go builds of the developer tools, into the cache folder (tools/cache.py), never into the repo.

``go_build`` is the one build helper: it builds a Go module's package into a target path once, under
a lock (concurrent callers wait and reuse the result), through a temporary file renamed into place.
The caller names the target, whose folder carries the cache key. Its users:

* the control plane (tools/controlplane), below: ``ensure_binary`` -> controlplane-<source_hash>/kube-controlplane,
  keyed by go.mod, go.sum and every *.go file; $DEVPI_CONTROLPLANE_BIN uses a prebuilt binary instead;
* oauth2-proxy (tools/oauth2-proxy), in tools/install_consumers.py, keyed by go.mod and go.sum;
* the node of the local cluster (tools/kube-node: kubelet, kube-controller-manager, kube-scheduler,
  kube-proxy through ``kube_build``; tools/node-runtime: containerd and the CNI plugins), in tools/node.py.

Standard library only.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, flock  # noqa: E402

CONTROLPLANE_SRC = Path(__file__).resolve().parent / "controlplane"
CONTROLPLANE_BINARY = "kube-controlplane"
GO_FALLBACK = "/usr/local/go/bin/go"  # the official tarball's place, often not on PATH


class GoBuildError(RuntimeError):
    """No Go toolchain, a failed `go build`, or an unusable prebuilt binary; str() says which."""


def go_binary() -> str | None:
    return shutil.which("go") or (GO_FALLBACK if os.access(GO_FALLBACK, os.X_OK) else None)


def go_build(
    module_dir: Path,
    target: Path,
    *,
    package: str = ".",
    flags: Sequence[str] = ("-trimpath",),
    ldflags: str = "-s -w",
    env: Mapping[str, str] | None = None,
    what: str | None = None,
    no_go_hint: str = "",
    log: Callable[[str], None] = print,
) -> Path:
    """`go build <flags> -ldflags <ldflags> -o <target> <package>` in ``module_dir``, unless ``target``
    is already an executable file. ``env`` adds to the environment. Returns ``target``."""
    if os.access(target, os.X_OK) and target.is_file():
        return target
    what = what or target.name
    with flock(target.parent.parent / f".{target.parent.name}.lock"):
        if os.access(target, os.X_OK) and target.is_file():  # built meanwhile by someone else
            return target
        go = go_binary()
        if not go:
            raise GoBuildError(f"`go` not found in PATH; it is needed once to build {what}{no_go_hint}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
        log(f"building {what} into {target} -- a cold build takes several minutes ...")
        t0 = time.monotonic()
        proc = subprocess.run(
            [go, "build", *flags, "-ldflags", ldflags, "-o", str(tmp), package],
            cwd=module_dir,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise GoBuildError(f"go build of {what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}")
        os.replace(tmp, target)
        log(f"built {target.name} in {time.monotonic() - t0:.1f}s ({target.stat().st_size / 1e6:.0f} MB)")
        return target


# --------------------------------------------------------------------------- the control plane binary


def source_hash(src_dir: Path = CONTROLPLANE_SRC) -> str:
    """sha256 over go.mod, go.sum and every *.go file (names and contents), 16 hex digits."""
    h = hashlib.sha256()
    files = [src_dir / "go.mod", src_dir / "go.sum"] + sorted(src_dir.rglob("*.go"))
    for f in files:
        h.update(str(f.relative_to(src_dir)).encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def binary_path(src_dir: Path = CONTROLPLANE_SRC) -> Path:
    return cache_root() / f"controlplane-{source_hash(src_dir)}" / CONTROLPLANE_BINARY


def kube_version(src_dir: Path = CONTROLPLANE_SRC) -> str:
    """The k8s.io/kubernetes version go.mod requires (what the API server reports)."""
    for line in (src_dir / "go.mod").read_text().splitlines():
        parts = line.split()
        if "k8s.io/kubernetes" in parts and "=>" not in parts:
            return parts[parts.index("k8s.io/kubernetes") + 1]
    raise GoBuildError("go.mod does not require k8s.io/kubernetes")


def ensure_binary(log: Callable[[str], None] = print, src_dir: Path = CONTROLPLANE_SRC) -> Path:
    """Path of the control plane binary: $DEVPI_CONTROLPLANE_BIN, else built into the cache if needed."""
    env_bin = os.environ.get("DEVPI_CONTROLPLANE_BIN")
    if env_bin:
        p = Path(env_bin).expanduser()
        if not os.access(p, os.X_OK):
            raise GoBuildError(f"DEVPI_CONTROLPLANE_BIN={env_bin} is not an executable file")
        return p
    target = binary_path(src_dir)
    if target.is_file():
        return target
    return kube_build(src_dir, target, no_go_hint=" (or set DEVPI_CONTROLPLANE_BIN)", log=log)


def kube_build(src_dir: Path, target: Path, *, no_go_hint: str = "", log: Callable[[str], None] = print) -> Path:
    """go_build of a module of ours that builds k8s.io/kubernetes components (tools/controlplane,
    tools/kube-node), stamped with the version its go.mod requires (else they report v0.0.0-master)."""
    version = kube_version(src_dir)
    pkg = "k8s.io/component-base/version"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ldflags = [
        "-s",
        "-w",
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor=1",
        f"-X {pkg}.gitMinor={version.split('.')[1]}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X {pkg}.buildDate={now}",
    ]
    return go_build(
        src_dir,
        target,
        ldflags=" ".join(ldflags),
        what=f"{target.name} (k8s.io/kubernetes {version})",
        no_go_hint=no_go_hint,
        log=log,
    )
