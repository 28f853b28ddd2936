#!/usr/bin/env python3
"""Container images for the local node, made on this machine -- no registry, nothing pulled.

    python3 tools/images.py build [NAME ...]   # make build the missing ones (default: all), print their tarballs
    python3 tools/images.py list               # names, tarballs, whether built
    python3 tools/images.py base               # only the Debian base (debootstrap)

Each image is an OCI image-layout tarball in the cache folder (tools/cache.py), images/<name>-<key>.tar, the
key hashing everything it is made of; tools/node.py imports the built ones into containerd
(`ctr -n k8s.io images import`) when the node starts. Layers are plain (uncompressed) tars.

* localhost/devpi/pause -- the pods' sandbox: the `pause` binary of tools/node-runtime, alone.
* a Debian bookworm base: `debootstrap --variant=minbase` from the mirror apt uses, once (its rootfs and
  layer cached); the three below share it as their first layer and add one layer each: the files that
  their step added or changed (deletions as whiteouts).
* localhost/devpi/devpi-server -- python3 from Debian, a venv /opt/devpi with devpi-server and devpi-web from
  PyPI (the pins of tools/install_consumers.py), resolved by the image's Python in the chroot.
* localhost/devpi/nginx:bookworm -- nginx from Debian.
* localhost/devpi/oauth2-proxy -- the binary tools/install_consumers.py builds, /usr/local/bin/oauth2-proxy.

Needs root (debootstrap, chroot), debootstrap (Debian), and for oauth2-proxy its build. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
from cache import cache_root, flock, short_hash  # noqa: E402

RECIPE = "1"  # bump to rebuild every image
SUITE = "bookworm"
REGISTRY = "localhost/devpi"
PAUSE = f"{REGISTRY}/pause:1"
DEVPI_PINS = ("devpi-server==6.20.3", "devpi-web==5.1.1")  # the same pins as tools/install_consumers.py
DEVPI = f"{REGISTRY}/devpi-server:6.20.3"
NGINX = f"{REGISTRY}/nginx:{SUITE}"
OAUTH2_PROXY_TAG = "v7.15.6"  # tools/install_consumers.py OAUTH2_PROXY_VERSION
OAUTH2_PROXY = f"{REGISTRY}/oauth2-proxy:{OAUTH2_PROXY_TAG}"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CHROOT_ENV = {"PATH": PATH_ENV[5:], "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "HOME": "/root"}


class ImageError(RuntimeError):
    """An image could not be made; str() says which and why."""


def images_dir() -> Path:
    return cache_root() / "images"


def _log_default(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- OCI image layout


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_oci(out: Path, name: str, layers: list[Path], config: dict) -> Path:
    """An OCI image-layout tarball at `out` holding one linux/amd64 image `name` (layers: plain tar files)."""
    diff_ids, layer_descs = [], []
    for layer in layers:
        digest = _file_sha(layer)
        diff_ids.append(digest)
        layer_descs.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": layer.stat().st_size}
        )
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [PATH_ENV], "WorkingDir": "/", **config},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"tools/images.py {name}"}],
    }
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha(cfg_bytes),
            "size": len(cfg_bytes),
        },
        "layers": layer_descs,
    }
    man_bytes = json.dumps(manifest, sort_keys=True).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha(man_bytes),
                "size": len(man_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                },
            }
        ],
    }
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, "w") as tar:

        def add_bytes(arcname: str, data: bytes) -> None:
            info = tarfile.TarInfo(arcname)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        add_bytes("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add_bytes("index.json", json.dumps(index, sort_keys=True).encode())
        add_bytes(f"blobs/sha256/{_sha(cfg_bytes)[7:]}", cfg_bytes)
        add_bytes(f"blobs/sha256/{_sha(man_bytes)[7:]}", man_bytes)
        for layer, desc in zip(layers, layer_descs):
            tar.add(layer, arcname=f"blobs/sha256/{desc['digest'][7:]}", recursive=False)
    os.replace(tmp, out)
    return out


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# --------------------------------------------------------------------------- layers


def _index(root: Path) -> dict[str, tuple]:
    """path (relative) -> what makes a file the same: type, mode, owner, size, mtime, link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, link)
    return out


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""
    return info


def layer_from_tree(root: Path, out: Path, base: dict[str, tuple] | None = None) -> Path:
    """A plain tar of root's files at `out`; with `base` (an _index of the tree root started from) only what
    was added or changed, and a whiteout for what was removed."""
    now = _index(root)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(now):
            if base is not None and base.get(rel) == now[rel] and not stat.S_ISDIR(now[rel][0]):
                continue
            if base is not None and stat.S_ISDIR(now[rel][0]) and base.get(rel) == now[rel]:
                # an unchanged folder still goes in when something below it does (keeps its mode in the layer)
                continue
            tar.add(root / rel, arcname=rel, recursive=False, filter=_tar_filter)
        for rel in sorted(set(base or ()) - set(now)):
            parent, _, leaf = rel.rpartition("/")
            if parent and parent not in now:
                continue  # the folder went: its whiteout covers it
            info = tarfile.TarInfo(f"{parent + '/' if parent else ''}.wh.{leaf}")
            tar.addfile(info, io.BytesIO(b""))
    os.replace(tmp, out)
    return out


# --------------------------------------------------------------------------- Debian base


def debian_mirror() -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources), else deb.debian.org."""
    for src in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            text = src.read_text()
            for m in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
                uri = m.group(1)
                if "security" not in uri and uri.startswith("http"):
                    return uri
    return "http://deb.debian.org/debian"


def base_key() -> str:
    return short_hash(RECIPE.encode(), SUITE.encode(), b"minbase", debian_mirror().encode())


def base_dir() -> Path:
    return images_dir() / f"base-{SUITE}-{base_key()}"


def ensure_base(log: Callable[[str], None]) -> Path:
    """The base folder: rootfs/ (debootstrap minbase) and layer.tar; made once."""
    d = base_dir()
    if (d / ".complete").exists():
        return d
    with flock(images_dir() / f".{d.name}.lock"):
        if (d / ".complete").exists():
            return d
        if not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin"):
            raise ImageError("debootstrap is missing: apt-get install debootstrap")
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        t = time.monotonic()
        log(f"debootstrap --variant=minbase {SUITE} (base of the images) ...")
        _check(["debootstrap", "--variant=minbase", SUITE, str(d / "rootfs"), debian_mirror()], "debootstrap")
        # no apt caches in the layers; no services started by package scripts in the chroot
        shutil.rmtree(d / "rootfs/var/cache/apt/archives", ignore_errors=True)
        (d / "rootfs/var/cache/apt/archives/partial").mkdir(parents=True)
        policy = d / "rootfs/usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        layer_from_tree(d / "rootfs", d / "layer.tar")
        (d / ".complete").write_text(f"{time.monotonic() - t:.1f}\n")
        log(f"base made in {time.monotonic() - t:.0f}s")
        return d


def _check(args: list[str], what: str, env: dict | None = None) -> None:
    """Run args (found also in /usr/sbin and /sbin: debootstrap, chroot); ImageError with its output if it fails."""
    env = dict(env if env is not None else os.environ)
    path = env.get("PATH", os.defpath) + ":/usr/sbin:/sbin"
    args = [shutil.which(args[0], path=path) or args[0], *args[1:]]
    env["PATH"] = path
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise ImageError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")


@contextlib.contextmanager
def _chroot_tree(log: Callable[[str], None]):
    """A copy of the base rootfs to change in a chroot, with /proc and the host's resolv.conf; yields
    (root, the index of the copy before the change, finish). finish() undoes the chroot's needs (unmounts
    /proc, drops apt's lists, puts the base's resolv.conf back) before the caller takes the layer."""
    base = ensure_base(log)
    with tempfile.TemporaryDirectory(prefix="devpi-image-", dir=images_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        _check(["cp", "-a", str(base / "rootfs"), str(root)], "copy of the base")
        before = _index(root)
        resolv = root / "etc/resolv.conf"
        saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
        (root / "proc").mkdir(exist_ok=True)
        mounted = [subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=False).returncode == 0]
        stat_before = os.lstat(resolv) if saved is not None else None

        def finish() -> None:
            if mounted[0]:
                subprocess.run(["umount", "-l", str(root / "proc")], check=False)
                mounted[0] = False
            for sub in ("var/lib/apt/lists", "var/cache/apt"):
                for p in (root / sub).glob("*"):
                    if p.name not in ("partial", "archives", "lock"):
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
            with contextlib.suppress(FileNotFoundError):
                resolv.unlink()
            if saved is not None:
                resolv.write_bytes(saved)
                os.chmod(resolv, stat.S_IMODE(stat_before.st_mode))
                os.utime(resolv, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))

        try:
            with contextlib.suppress(FileNotFoundError):
                resolv.unlink()
            shutil.copy("/etc/resolv.conf", resolv)
            yield root, before, finish
        finally:
            finish()


def _chroot(root: Path, *cmd: str, what: str, env: dict | None = None) -> None:
    _check(["chroot", str(root), *cmd], what, env={**CHROOT_ENV, **(env or {})})


# --------------------------------------------------------------------------- the images


def _pause_binary() -> Path:
    import node_build

    return node_build.runtime_dir() / "pause"


def _oauth2_proxy_binary() -> Path:
    import install_consumers

    return install_consumers.oauth2_proxy_cache_dir() / "oauth2-proxy"


def _key(name: str) -> str:
    """The cache key of an image: what it is made of (cheap: no build)."""
    if name == PAUSE:
        import gobuild
        import node_build

        return short_hash(RECIPE.encode(), gobuild.source_hash(node_build.RUNTIME_SRC).encode())
    if name == DEVPI:
        return short_hash(RECIPE.encode(), base_key().encode(), "\n".join(DEVPI_PINS).encode())
    if name == NGINX:
        return short_hash(RECIPE.encode(), base_key().encode(), b"nginx")
    if name == OAUTH2_PROXY:
        return short_hash(RECIPE.encode(), base_key().encode(), _oauth2_proxy_binary().parent.name.encode())
    raise ImageError(f"unknown image {name}; known: {', '.join(IMAGES)}")


def tarball(name: str) -> Path:
    short = name.rsplit("/", 1)[1].split(":")[0]
    return images_dir() / f"{short}-{_key(name)}.tar"


def _make_pause(out: Path, log: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        shutil.copy(_pause_binary(), root / "pause")
        layer = layer_from_tree(root, Path(tmp) / "layer.tar")
        write_oci(out, PAUSE, [layer], {"Entrypoint": ["/pause"]})


def _make_image(name: str, out: Path, log: Callable[[str], None]) -> None:
    if name == PAUSE:
        _make_pause(out, log)
        return
    base = ensure_base(log)

    def apt_install(root: Path, *packages: str) -> None:
        _chroot(root, "apt-get", "update", "-qq", what="apt-get update (chroot)")
        _chroot(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, what="apt-get install")

    with tempfile.TemporaryDirectory(dir=images_dir()) as keep:
        layer = Path(keep) / "layer.tar"
        with _chroot_tree(log) as (root, before, finish):
            if name == DEVPI:
                apt_install(root, "python3", "python3-venv")
                _chroot(root, "python3", "-m", "venv", "/opt/devpi", what="python3 -m venv")
                # resolved by the image's own Python (bookworm's 3.11.2: some newest releases need 3.11.5+), with
                # the host's pip settings (index, CA bundle: copied in for the install, removed before the layer)
                env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_FIND_LINKS"}
                host_ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
                if os.path.isfile(host_ca):
                    shutil.copy(host_ca, root / "opt/host-ca.pem")
                    env["PIP_CERT"] = "/opt/host-ca.pem"
                try:
                    _chroot(
                        root,
                        "/opt/devpi/bin/pip",
                        "install",
                        "-q",
                        "--no-cache-dir",
                        "--disable-pip-version-check",
                        *DEVPI_PINS,
                        what="pip install devpi",
                        env=env,
                    )
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        (root / "opt/host-ca.pem").unlink()
                # all interfaces of the pod's own network namespace
                serve = ["devpi-server", "--host", "0.0.0.0"]  # noqa: S104
                config = {"Env": [f"PATH=/opt/devpi/bin:{PATH_ENV[5:]}"], "Cmd": serve}
            elif name == NGINX:
                apt_install(root, "nginx")
                config = {"Cmd": ["nginx", "-g", "daemon off;"]}
            elif name == OAUTH2_PROXY:
                exe = _oauth2_proxy_binary()
                if not exe.is_file():
                    raise ImageError(f"{exe} is not built: python tools/install_consumers.py build-oauth2-proxy")
                shutil.copy(exe, root / "usr/local/bin/oauth2-proxy")
                config = {"Entrypoint": ["/usr/local/bin/oauth2-proxy"]}
            else:
                raise ImageError(f"unknown image {name}")
            finish()
            layer_from_tree(root, layer, before)
        write_oci(out, name, [base / "layer.tar", layer], config)


IMAGES = (PAUSE, DEVPI, NGINX, OAUTH2_PROXY)


def ensure(names: list[str], log: Callable[[str], None] = _log_default) -> list[Path]:
    """The tarballs of `names` (short names or full), made if missing."""
    out = []
    for name in resolve(names):
        tar = tarball(name)
        if not tar.exists():
            images_dir().mkdir(parents=True, exist_ok=True)
            with flock(images_dir() / f".{tar.name}.lock"):
                if not tar.exists():
                    t = time.monotonic()
                    log(f"making image {name} ...")
                    _make_image(name, tar, log)
                    log(f"made {name} in {time.monotonic() - t:.1f}s ({tar.stat().st_size / 1e6:.0f} MB)")
        out.append(tar)
    return out


def resolve(names: list[str]) -> list[str]:
    by_short = {n.rsplit("/", 1)[1].split(":")[0]: n for n in IMAGES}
    out = []
    for n in names:
        if n in IMAGES:
            out.append(n)
        elif n in by_short:
            out.append(by_short[n])
        else:
            raise ImageError(f"unknown image {n}; known: {', '.join(by_short)}")
    return out


def built() -> list[Path]:
    """Tarballs of the images made already (for the current keys)."""
    out = []
    for name in IMAGES:
        with contextlib.suppress(Exception):
            if tarball(name).exists():
                out.append(tarball(name))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="make the missing images (default: all)")
    b.add_argument("names", nargs="*")
    sub.add_parser("list", help="names, tarballs, whether made")
    sub.add_parser("base", help="only make the Debian base (debootstrap; network-bound: CI runs it beside Go builds)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "build":
            t = time.monotonic()
            for tar in ensure(args.names or list(IMAGES)):
                print(tar)
            print(f"images: {time.monotonic() - t:.1f}s", file=sys.stderr)
        elif args.cmd == "base":
            print(ensure_base(_log_default))
        else:
            for name in IMAGES:
                tar = tarball(name)
                print(f"{name}\t{tar}\t{'made' if tar.exists() else 'not made'}")
    except ImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
