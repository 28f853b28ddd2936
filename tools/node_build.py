"""The node's binaries, built from Go modules into the cache folder (tools/gobuild.py), never into the repo.

* tools/kube-node: one binary, ``kube-node <component> <flags>``, for kubelet, kube-controller-manager,
  kube-scheduler and kube-proxy, from the same k8s.io/kubernetes module as tools/controlplane (its packages
  are mostly in the Go build cache once the control plane is built) -> kube-node-<source hash>/kube-node.
* tools/node-runtime: containerd, its runc shim, ctr and the CNI plugins (bridge, host-local, loopback,
  portmap), named by `tool` directives in its go.mod, and pause (tools/node-runtime/pause, the pods' sandbox)
  -> node-runtime-<source hash>/<name>. Built without cgo,
  as upstream's static releases (the btrfs snapshotter, the only cgo part, is left out).

* tools/coredns: CoreDNS with the plugins the node's Corefile uses, the cluster DNS -> coredns-<source hash>/coredns.

runc, iptables, conntrack and iproute2 come from Debian (.ci/run installs them). Standard library only.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
import gobuild  # noqa: E402
from cache import cache_root  # noqa: E402

TOOLS = Path(__file__).resolve().parent
KUBE_NODE_SRC = TOOLS / "kube-node"
RUNTIME_SRC = TOOLS / "node-runtime"
COREDNS_SRC = TOOLS / "coredns"
COREDNS = "github.com/coredns/coredns"
KUBE_NODE_BINARY = "kube-node"
CONTAINERD = "github.com/containerd/containerd/v2"
CNI_PLUGINS = "github.com/containernetworking/plugins/plugins"
# name in the cache folder -> Go package (each one a `tool` of tools/node-runtime/go.mod)
RUNTIME_PACKAGES = {
    "containerd": f"{CONTAINERD}/cmd/containerd",
    "containerd-shim-runc-v2": f"{CONTAINERD}/cmd/containerd-shim-runc-v2",
    "ctr": f"{CONTAINERD}/cmd/ctr",
    "bridge": f"{CNI_PLUGINS}/main/bridge",
    "host-local": f"{CNI_PLUGINS}/ipam/host-local",
    "loopback": f"{CNI_PLUGINS}/main/loopback",
    "portmap": f"{CNI_PLUGINS}/meta/portmap",
    "pause": "./pause",  # ours: the pods' sandbox process (tools/images.py packs it)
}
CNI_PLUGIN_NAMES = ("bridge", "host-local", "loopback", "portmap")
# from Debian: the program -> its package
DEBIAN_PROGRAMS = {"runc": "runc", "iptables": "iptables", "conntrack": "conntrack", "ip": "iproute2"}


def module_version(src_dir: Path, module: str) -> str:
    """The version of `module` that src_dir's go.mod requires."""
    for line in (src_dir / "go.mod").read_text().splitlines():
        parts = line.split()
        if module in parts and "=>" not in parts and parts[0] != "tool" and parts.index(module) + 1 < len(parts):
            return parts[parts.index(module) + 1]
    raise gobuild.GoBuildError(f"{src_dir / 'go.mod'} does not require {module}")


def kube_node_binary(log: Callable[[str], None] = print) -> Path:
    target = cache_root() / f"kube-node-{gobuild.source_hash(KUBE_NODE_SRC)}" / KUBE_NODE_BINARY
    if target.is_file():
        return target
    return gobuild.kube_build(KUBE_NODE_SRC, target, log=log)


def runtime_dir(log: Callable[[str], None] = print) -> Path:
    """The folder holding containerd, containerd-shim-runc-v2, ctr and the CNI plugins (built if needed)."""
    folder = cache_root() / f"node-runtime-{gobuild.source_hash(RUNTIME_SRC)}"
    version = module_version(RUNTIME_SRC, CONTAINERD)
    for name, package in RUNTIME_PACKAGES.items():
        ldflags = "-s -w"
        if package.startswith(CONTAINERD):
            ldflags += f" -X {CONTAINERD}/version.Version={version}"
        gobuild.go_build(
            RUNTIME_SRC,
            folder / name,
            package=package,
            ldflags=ldflags,
            env={"CGO_ENABLED": "0"},
            what=name,
            log=log,
        )
    return folder


def coredns_binary(log: Callable[[str], None] = print) -> Path:
    """CoreDNS (tools/coredns: upstream's with only the plugins the node uses): the node's cluster DNS."""
    target = cache_root() / f"coredns-{gobuild.source_hash(COREDNS_SRC)}" / "coredns"
    version = module_version(COREDNS_SRC, COREDNS)
    return gobuild.go_build(
        COREDNS_SRC,
        target,
        ldflags="-s -w",
        env={"CGO_ENABLED": "0"},
        what=f"coredns {version}",
        log=log,
    )


def missing_debian_programs() -> list[str]:
    """Debian packages whose program is not on PATH (also /usr/sbin, /sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [pkg for prog, pkg in DEBIAN_PROGRAMS.items() if not shutil.which(prog, path=path)]


def build_all(log: Callable[[str], None] = print) -> dict[str, Path]:
    return {"kube-node": kube_node_binary(log), "runtime": runtime_dir(log), "coredns": coredns_binary(log)}


def main(argv: list[str] | None = None) -> int:
    """`node_build.py [kube-node|runtime|coredns]`: build (if needed) and print the path; all without an argument."""
    what = (argv if argv is not None else sys.argv[1:]) or ["kube-node", "runtime", "coredns"]
    builders = {"kube-node": kube_node_binary, "runtime": runtime_dir, "coredns": coredns_binary}
    try:
        for name in what:
            if name not in builders:
                print(f"usage: node_build.py [{'|'.join(builders)}]", file=sys.stderr)
                return 2
            print(builders[name]())
    except gobuild.GoBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
