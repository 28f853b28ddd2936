"""A real node for the local control plane (tools/cluster.py `up --node`, `make cluster-up NODE=1`) -- no Docker.

containerd (with runc from Debian and the CNI plugins bridge, host-local, loopback, portmap), kubelet,
kube-controller-manager, kube-scheduler, kube-proxy (iptables mode) and CoreDNS (cluster DNS on the node IP's
port 53: kubelet's clusterDNS), each a process of its own, all built
from Go modules into the cache folder (tools/node_build.py). Pods run from images made offline
(tools/images.py), imported into containerd at `up`; nothing is pulled.

Everything the node writes lives under <state dir>/node -- except containerd's root (images, snapshots), kept in
the cache folder so that images are imported and unpacked once -- and what the kernel and the programs keep
host-wide; `down` removes each of those again and restores what it changed:

* cgroups: one tree, /sys/fs/cgroup/<controller>/devpi-node (kubelet's cgroupRoot, containerd and its shims
  in devpi-node/runtime): every process left in it is killed, then the tree is removed;
* mounts: everything mounted under the state dir (kubelet's volumes, containerd's rootfs and network
  namespaces -- netns_mounts_under_state_dir) and under /run/containerd (shim sockets) is unmounted;
* network: the pods' sandboxes are stopped through CRI first (CNI DEL: veths, IP leases, CNI-* rules),
  then the bridge cni0 is deleted and `kube-proxy --cleanup` plus a sweep remove the KUBE-* and CNI-* chains;
* sysctls: the values the node sets (and kubelet's kernel tunables) are saved at `up` and restored;
* host folders the programs create with fixed names (/run/containerd, /var/lib/cni, /var/log/containers, ...)
  are removed when they did not exist before `up`.

One node per host (the bridge, the iptables chains and the cgroup tree are host-wide): a second `up --node`
from another state dir is refused with the state dir of the running one. Linux, root, cgroup v1 (as these
machines; kubelet runs with failCgroupV1: false, cgroupDriver: cgroupfs). Standard library plus
`cryptography` (tools/pki.py) for the certificates.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
import node_build  # noqa: E402
import procs  # noqa: E402
from cache import cache_root  # noqa: E402
from ports import free_ports  # noqa: E402

CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_NAME = "devpi-node"
BRIDGE = "cni0"
POD_CIDR = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
CLUSTER_DNS_DOMAIN = "cluster.local"
CNI_NETWORK = "devpi-node"
# components in start order; `down` stops them in reverse
COMPONENTS = ("containerd", "kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns")
# the node's own settings, plus what kubelet changes when protectKernelDefaults is false (setupKernelTunables)
# and what kube-proxy may touch; saved at `up`, restored at `down`
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/ipv4/conf/all/route_localnet",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
NODE_SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
# fixed host paths the programs create whatever they are told (removed at `down` when new)
HOST_PATHS = (
    "/run/containerd",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/log/pods",
    "/etc/cni",
    "/opt/cni",
    "/var/lib/kubelet",
    "/run/netns",
    "/var/run/netns",
    "/usr/libexec/kubernetes",
    "/var/lib/containerd",
)
IPTABLES_PREFIXES = ("KUBE-", "CNI-")
# kube-controller-manager: the control plane already runs these in its own process (tools/controlplane)
# CoreDNS: a process on the host like the other parts, on the node IP's port 53 (kubelet's clusterDNS), reading
# Services and EndpointSlices with an identity of its own; no upstream (these machines reach no other DNS)
COREDNS_USER = "system:coredns"
KCM_CONTROLLERS = "*,-namespace-controller,-serviceaccount-controller,-root-ca-certificate-publisher-controller"


class NodeError(RuntimeError):
    """The node could not start, or a part of it died; str() says which, with the tail of its log."""


# --------------------------------------------------------------------------- host facts


def host_problems() -> list[str]:
    """What this host lacks for a node (empty: fine)."""
    out = []
    if os.geteuid() != 0:
        out.append("the node needs root (containerd, runc, iptables, mounts)")
    if not (CGROUP_FS / "memory").is_dir() or not (CGROUP_FS / "cpu").is_dir():
        out.append(f"cgroup v1 controllers not found under {CGROUP_FS} (this node is set up for cgroup v1)")
    missing = node_build.missing_debian_programs()
    if missing:
        out.append(f"apt-get install {' '.join(missing)}")
    return out


def node_ip() -> str:
    """The host's primary IPv4 address (the device of the default route): kubelet refuses a loopback node IP."""
    routes = json.loads(_run(["ip", "-j", "-4", "route", "show", "default"]).stdout or "[]")
    devs = [r["dev"] for r in routes if r.get("dev")]
    addrs = json.loads(_run(["ip", "-j", "-4", "addr", "show", *(["dev", devs[0]] if devs else [])]).stdout)
    for link in addrs:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet" and not a["local"].startswith("127."):
                return a["local"]
    raise NodeError("no non-loopback IPv4 address on this host: kubelet needs one as the node IP")


def node_name() -> str:
    return socket.gethostname().split(".")[0].lower() or "devpi-node"


def _run(args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    return subprocess.run(args, check=check, capture_output=True, text=True, env=env, **kw)


def cgroup_controllers() -> list[Path]:
    """The cgroup v1 hierarchies (one folder each; co-mounted ones once)."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup" and fields[1].startswith(str(CGROUP_FS)):
            out.append(Path(fields[1]))
    return out


def our_cgroups() -> list[Path]:
    """Every cgroup folder of the node's tree, deepest first."""
    found = []
    for root in cgroup_controllers():
        top = root / CGROUP_NAME
        if top.is_dir():
            found += [Path(dirpath) for dirpath, _dirs, _files in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below any of roots, deepest first (from /proc/self/mountinfo)."""
    prefixes = [str(r).rstrip("/") for r in roots]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def read_sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / name).read_text().strip()
    except OSError:
        return None


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        (Path("/proc/sys") / name).write_text(value + "\n")


def iptables_ours() -> dict[str, list[str]]:
    """Per iptables binary (iptables-nft, iptables-legacy), the rules and chains named KUBE-* or CNI-*."""
    out = {}
    for binary in ("iptables", "iptables-legacy", "ip6tables", "ip6tables-legacy"):
        if not shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            continue
        save = _run([binary + "-save"], check=False).stdout
        out[binary] = [ln for ln in save.splitlines() if any(p in ln for p in IPTABLES_PREFIXES)]
    return out


def sweep_iptables(log: Callable[[str], None]) -> None:
    """Remove every rule that jumps to, and every chain named, KUBE-* or CNI-* (after `kube-proxy --cleanup`
    and the CNI DELs, what a killed component left)."""
    for binary in ("iptables", "iptables-legacy", "ip6tables", "ip6tables-legacy"):
        if not shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            continue
        table = None
        chains: dict[str, list[str]] = {}
        rules: list[tuple[str, str]] = []
        for line in _run([binary + "-save"], check=False).stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and table:
                name = line[1:].split()[0]
                if name.startswith(IPTABLES_PREFIXES):
                    chains.setdefault(table, []).append(name)
            elif line.startswith("-A ") and table:
                parts = line.split()
                if parts[1].startswith(IPTABLES_PREFIXES):
                    continue  # goes with its chain
                if any(p in line for p in (" -j KUBE-", " -j CNI-", " -g KUBE-", " -g CNI-")):
                    rules.append((table, line))
        if not chains and not rules:
            continue
        log(f"removing {sum(map(len, chains.values()))} chains and {len(rules)} rules of the node ({binary})")
        for table, line in rules:
            _run([binary, "-t", table, "-D", *shlex.split(line)[1:]], check=False)
        for table, names in chains.items():
            for name in names:
                _run([binary, "-t", table, "-F", name], check=False)
            for name in names:
                _run([binary, "-t", table, "-X", name], check=False)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def host_snapshot() -> dict:
    """What `down` must leave as it was: processes are checked by the tests; this is the host-wide state."""
    links = sorted(os.listdir("/sys/class/net"))
    return {
        "links": links,
        "mounts": sorted(
            {ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()},
        ),
        "cgroups": sorted(str(p) for p in our_cgroups()),
        "iptables": iptables_ours(),
        "sysctls": {name: read_sysctl(name) for name in SYSCTLS},
        "host_paths": sorted(p for p in HOST_PATHS if os.path.lexists(p)),
    }


# --------------------------------------------------------------------------- the node


class Node:
    """The node of the control plane `cp` (a tools/cluster.py ControlPlane), files in <state dir>/node."""

    def __init__(self, cp, log: Callable[[str], None] | None = None, die_with_parent: bool = False):
        self.cp = cp
        self.dir = cp.state_dir / "node"
        self.log = log or (lambda msg: print(msg, flush=True))
        self.die_with_parent = die_with_parent
        self.last_ready_seconds: float | None = None
        self._procs: dict[str, subprocess.Popen] = {}

    # -- files
    def pid_file(self, component: str) -> Path:
        return self.dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.dir / f"{component}.log"

    @property
    def sock(self) -> Path:
        return self.dir / "containerd.sock"

    @property
    def info_file(self) -> Path:
        return self.dir / "node.json"

    def info(self) -> dict:
        try:
            return json.loads(self.info_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    @staticmethod
    def claim_file() -> Path:
        return cache_root() / "node-host.json"

    def pid(self, component: str) -> int | None:
        marker = str(self.dir)
        return procs.live_pid(self.pid_file(component), lambda cmd: not cmd or any(marker in a for a in cmd))

    def pids(self) -> dict[str, int | None]:
        return {c: self.pid(c) for c in COMPONENTS}

    def configured(self) -> bool:
        return self.info_file.exists()

    # -- status
    def dead(self) -> list[str]:
        """Components of a configured node that do not run (a killed kubelet or containerd shows here)."""
        if not self.configured():
            return []
        return [c for c, pid in self.pids().items() if pid is None]

    def node_status(self) -> dict | None:
        """The Node object's Ready condition and taints, None when it cannot be read."""
        name = self.info().get("name")
        if not name or not self.cp.server:
            return None
        with contextlib.suppress(OSError, ssl.SSLError, urllib.error.URLError, ValueError):
            code, body = self.cp._get(f"/api/v1/nodes/{name}")
            if code == 200:
                obj = json.loads(body)
                ready = [c for c in obj["status"].get("conditions", []) if c["type"] == "Ready"]
                return {
                    "ready": bool(ready) and ready[0]["status"] == "True",
                    "taints": [t["key"] for t in obj["spec"].get("taints", [])],
                }
        return None

    def ready(self) -> bool:
        st = self.node_status()
        return bool(st and st["ready"] and "node.kubernetes.io/not-ready" not in st["taints"])

    def status(self) -> dict:
        pids = self.pids() if self.configured() else {}
        st = self.node_status() if self.configured() else None
        return {
            "configured": self.configured(),
            "name": self.info().get("name"),
            "ip": self.info().get("ip"),
            "pids": pids,
            "dead": self.dead(),
            "ready": bool(st and st["ready"]),
            "taints": st["taints"] if st else [],
        }

    # -- up
    def apiserver_args(self) -> list[str]:
        """kube-apiserver flags a node needs (given when the control plane starts; --authorization-mode adds)."""
        pki = self.cp.pki
        return [
            "--authorization-mode=Node",
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={pki / 'admin.crt'}",
            f"--kubelet-client-key={pki / 'admin.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        ]

    def up(self, timeout: float = 120.0) -> "Node":
        problems = host_problems()
        if problems:
            raise NodeError("cannot run a node here: " + "; ".join(problems))
        if self.configured():
            dead = self.dead()
            if not dead:
                if not self.ready():
                    self._wait_ready(time.monotonic(), timeout)
                self._import_images(Path(self.info()["binaries"]["runtime"]))  # made since (make images)
                self.log(f"node {self.info()['name']} already running and Ready")
                return self
            self.log(f"node part(s) {', '.join(dead)} not running: {self._dead_report(dead)}; restarting the node")
            self.down()
        self._claim()
        t0 = time.monotonic()
        binaries = node_build.build_all(self.log)
        t_built = time.monotonic()
        try:
            self._start(binaries, t0, timeout)
        except BaseException as e:
            # the logs outlive the failed node, in <state dir>/node-logs (the message names it)
            kept = self.dir.parent / "node-logs"
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True, exist_ok=True)
            for f in self.dir.glob("*.log"):
                shutil.copy(f, kept / f.name)
            with contextlib.suppress(Exception):
                self.down()
            if isinstance(e, NodeError):
                raise NodeError(f"{e} (logs kept in {kept})") from e
            raise
        self.log(
            f"node {self.info()['name']} Ready in {self.last_ready_seconds:.1f}s"
            + (f" (after {t_built - t0:.0f}s of builds)" if t_built - t0 > 5 else "")
        )
        return self

    def _dead_report(self, dead: list[str]) -> str:
        return "; ".join(f"{c} (last lines of its log: {procs.tail(self.log_file(c), 5)!r})" for c in dead)

    def _claim(self) -> None:
        """One node per host: refuse when another state dir's node runs."""
        claim = self.claim_file()
        try:
            other = json.loads(claim.read_text())
        except (FileNotFoundError, ValueError):
            other = {}
        if other and other.get("dir") != str(self.dir):
            other_dir = Path(other["dir"])
            alive = [
                c
                for c in COMPONENTS
                if procs.live_pid(other_dir / f"{c}.pid", lambda cmd: any(str(other_dir) in a for a in cmd))
            ]
            if alive:
                raise NodeError(
                    f"a node of another state dir runs ({other_dir}: {', '.join(alive)}); "
                    "one node per host -- stop it first (tools/cluster.py --state-dir ... down)"
                )
        procs.atomic_write(claim, json.dumps({"dir": str(self.dir)}) + "\n", 0o644)

    def _start(self, binaries: dict[str, Path], t0: float, timeout: float) -> None:
        self._procs = {}
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        name, ip = node_name(), node_ip()
        snapshot = host_snapshot()
        ports = dict(
            zip(
                ("kubelet", "kubelet_healthz", "kcm", "scheduler", "proxy_healthz", "proxy_metrics", "dns_ready"),
                free_ports(7),
            )
        )
        info = {"name": name, "ip": ip, "ports": ports, "host_before": snapshot, "binaries": {}}
        info["binaries"] = {k: str(v) for k, v in binaries.items()}
        procs.atomic_write(self.info_file, json.dumps(info, indent=1) + "\n")
        for sysctl, value in NODE_SYSCTLS.items():
            write_sysctl(sysctl, value)
        for root in cgroup_controllers():
            (root / CGROUP_NAME / "runtime").mkdir(parents=True, exist_ok=True)
        self._write_pki(name, ip)
        runtime = binaries["runtime"]
        self._write_configs(name, ip, ports, runtime)
        env = {**os.environ, "PATH": f"{runtime}:{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
        containerd = self._spawn(
            "containerd", [str(runtime / "containerd"), "--config", str(self.dir / "containerd.toml")], env
        )
        for root in cgroup_controllers():  # containerd and the shims it starts: in the node's tree
            with contextlib.suppress(OSError):
                (root / CGROUP_NAME / "runtime" / "cgroup.procs").write_text(f"{containerd.pid}\n")
        self._wait("containerd", lambda: self._ctr_ok(runtime), t0, timeout)
        self._import_images(runtime)
        kube = str(binaries["kube-node"])
        d = self.dir
        self._spawn(
            "kubelet",
            [
                kube,
                "kubelet",
                f"--config={d / 'kubelet.yaml'}",
                f"--kubeconfig={d / 'kubelet.kubeconfig'}",
                f"--root-dir={d / 'kubelet'}",
                f"--hostname-override={name}",
                f"--node-ip={ip}",
                "--v=1",
            ],
            env,
        )
        self._spawn(
            "kube-controller-manager",
            [
                kube,
                "kube-controller-manager",
                f"--kubeconfig={d / 'kcm.kubeconfig'}",
                f"--authentication-kubeconfig={d / 'kcm.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'kcm.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['kcm']}",
                "--leader-elect=false",
                f"--controllers={KCM_CONTROLLERS}",
                f"--service-account-private-key-file={self.cp.pki / 'sa.key'}",
                f"--root-ca-file={self.cp.pki / 'ca.crt'}",
                f"--cluster-cidr={CLUSTER_CIDR}",
                "--use-service-account-credentials=true",  # each controller as its own SA, with its default RBAC role
                "--v=1",
            ],
            env,
        )
        self._spawn(
            "kube-scheduler",
            [
                kube,
                "kube-scheduler",
                f"--kubeconfig={d / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={d / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['scheduler']}",
                "--leader-elect=false",
                "--v=1",
            ],
            env,
        )
        self._spawn("kube-proxy", [kube, "kube-proxy", f"--config={d / 'kube-proxy.yaml'}", "--v=1"], env)
        self._coredns_rbac()
        self._spawn("coredns", [str(binaries["coredns"]), "-conf", str(d / "Corefile")], env)
        self._wait("node", self.ready, t0, timeout)
        self._wait("cluster DNS", lambda: self._dns_ready(ports["dns_ready"]), t0, timeout)
        self.last_ready_seconds = time.monotonic() - t0

    def _dns_ready(self, port: int) -> bool:
        with contextlib.suppress(OSError, urllib.error.URLError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:  # noqa: S310
                return r.status == 200
        return False

    def _coredns_rbac(self) -> None:
        """What CoreDNS's kubernetes plugin reads (the rules of kubeadm's system:coredns), for its identity."""
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": COREDNS_USER},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        }
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": COREDNS_USER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": COREDNS_USER},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": COREDNS_USER}],
        }
        base = "/apis/rbac.authorization.k8s.io/v1"
        for path, obj in ((f"{base}/clusterroles", role), (f"{base}/clusterrolebindings", binding)):
            req = urllib.request.Request(  # noqa: S310 -- always https://127.0.0.1:<port>
                self.cp.server + path,
                data=json.dumps(obj).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, context=self.cp._ssl_context(), timeout=10):  # noqa: S310
                    pass
            except urllib.error.HTTPError as e:
                if e.code != 409:  # 409: there from an earlier node of this control plane
                    raise NodeError(
                        f"creating {obj['kind']} {COREDNS_USER} failed: HTTP {e.code} {e.read()[:300]!r}"
                    ) from e

    def _spawn(self, component: str, args: list[str], env: dict) -> subprocess.Popen:
        proc = procs.spawn(
            args,
            log_file=self.log_file(component),
            pid_file=self.pid_file(component),
            cwd=self.dir,
            env=env,
            die_with_parent=self.die_with_parent,
        )
        self._procs[component] = proc
        return proc

    def _wait(self, what: str, ready: Callable[[], bool], t0: float, timeout: float) -> None:
        deadline = t0 + timeout
        while True:
            dead = [c for c, p in self._procs.items() if p.poll() is not None]
            if dead:
                codes = ", ".join(f"{c} exit code {self._procs[c].returncode}" for c in dead)
                raise NodeError(f"{codes} while waiting for {what}; {self._dead_report(dead)}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise NodeError(f"{what} not ready after {timeout:.0f}s; logs in {self.dir}")
            time.sleep(0.2)

    def _ctr(self, runtime: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return _run(
            [str(runtime / "ctr"), "--address", str(self.sock), "-n", "k8s.io", *args], check=check, timeout=timeout
        )

    def _ctr_ok(self, runtime: Path) -> bool:
        return self.sock.exists() and self._ctr(runtime, "version", check=False, timeout=10).returncode == 0

    def _import_images(self, runtime: Path) -> None:
        """Import the made images (tools/images.py) that containerd's root does not hold yet."""
        import images

        t = time.monotonic()
        record = containerd_root(runtime) / "imported.json"
        try:
            done = set(json.loads(record.read_text()))
        except (FileNotFoundError, ValueError):
            done = set()
        tars = [str(t) for t in dict.fromkeys(images.ensure(["pause"], log=self.log) + images.built())]
        new = [tar for tar in tars if tar not in done]
        for tar in new:
            self._ctr(runtime, "images", "import", "--no-unpack", tar)
        procs.atomic_write(record, json.dumps(sorted(done | set(new))) + "\n", 0o644)
        self.log(f"images: {len(new)} imported, {len(tars) - len(new)} already there ({time.monotonic() - t:.1f}s)")

    # -- certificates, kubeconfigs, configs
    def _write_pki(self, name: str, ip: str) -> None:
        import cluster

        certs = cluster._pki()
        pki = self.cp.pki
        ca = certs.load_pair((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes())
        identities = {
            "kubelet": (f"system:node:{name}", ["system:nodes"]),
            "kcm": ("system:kube-controller-manager", []),
            "scheduler": ("system:kube-scheduler", []),
            "kube-proxy": ("system:kube-proxy", []),
            "coredns": (COREDNS_USER, []),
        }
        ca_pem = (pki / "ca.crt").read_bytes()
        for stem, (user, groups) in identities.items():
            client = certs.issue_client(ca, user, groups, days=365)
            text = cluster.render_kubeconfig(self.cp.server, ca_pem, user, client.cert_pem, client.key_pem)
            procs.atomic_write(self.dir / f"{stem}.kubeconfig", text)
        serving = certs.issue_leaf(ca, [name, ip, "localhost", "127.0.0.1"], common_name=name, key_kind="ec", days=365)
        certs.write_pair(self.dir, serving, "kubelet-serving")

    def _write_configs(self, name: str, ip: str, ports: dict, runtime: Path) -> None:
        d = self.dir
        state = d / "containerd"
        root = containerd_root(runtime)
        cni = d / "cni"
        cni.mkdir(exist_ok=True)
        procs.atomic_write(
            d / "containerd.toml",
            f"""version = 3
root = "{root}"
state = "{state}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{_pause_image()}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  disable_apparmor = true
  # no CAP_SYS_RESOURCE here: containerd may not lower a container's oom_score_adj below its own
  restrict_oom_score_adj = true
  # the pods' network namespaces under containerd's state dir, not /run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{shutil.which("runc", path="/usr/sbin:/usr/bin:/sbin:/bin") or "runc"}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{runtime}"]
    conf_dir = "{cni}"
    max_conf_num = 1
""",
        )
        procs.atomic_write(
            cni / "10-devpi-node.conflist",
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": CNI_NETWORK,
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": POD_CIDR}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(d / "cni-ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=1,
            ),
            0o644,
        )
        ca = self.cp.pki / "ca.crt"
        procs.atomic_write(
            d / "kubelet.yaml",
            f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 on these machines: kubelet 1.35+ refuses it unless told
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /{CGROUP_NAME}
address: {ip}
port: {ports["kubelet"]}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {ports["kubelet_healthz"]}
tlsCertFile: {d / "kubelet-serving.crt"}
tlsPrivateKeyFile: {d / "kubelet-serving.key"}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
containerRuntimeEndpoint: unix://{self.sock}
clusterDomain: {CLUSTER_DNS_DOMAIN}
clusterDNS: [{ip}]
resolvConf: /etc/resolv.conf
failSwapOn: false
podLogsDir: {d / "pod-logs"}
volumePluginDir: {d / "volume-plugins"}
rotateCertificates: false
serverTLSBootstrap: false
evictionHard: {{memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
registerNode: true
maxPods: 60
""",
        )
        procs.atomic_write(
            d / "Corefile",
            f""". {{
    bind {ip}
    ready 127.0.0.1:{ports["dns_ready"]}
    errors
    kubernetes {CLUSTER_DNS_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {d / "coredns.kubeconfig"}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
""",
            0o644,
        )
        procs.atomic_write(
            d / "kube-proxy.yaml",
            f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {d / "kube-proxy.kubeconfig"}
mode: iptables
hostnameOverride: {name}
clusterCIDR: {CLUSTER_CIDR}
healthzBindAddress: 127.0.0.1:{ports["proxy_healthz"]}
metricsBindAddress: 127.0.0.1:{ports["proxy_metrics"]}
iptables:
  localhostNodePorts: false
conntrack:
  # 0: leave the host's conntrack table size and timeouts as they are
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
""",
        )

    def _wait_ready(self, t0: float, timeout: float) -> None:
        deadline = t0 + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise NodeError(f"node not Ready after {timeout:.0f}s; logs in {self.dir}")
            time.sleep(0.2)

    # -- down
    def down(self, timeout: float = 30.0) -> bool:
        """Stop every part, remove what the node put on the host, restore its sysctls. True if any part ran."""
        info = self.info()
        if not info and not self.dir.exists():
            return False
        pids = self.pids()
        running = any(pids.values())
        runtime_str = (info or {}).get("binaries", {}).get("runtime")
        runtime = Path(runtime_str) if runtime_str else None
        kube = info.get("binaries", {}).get("kube-node") if info else None
        # kubelet first (else it starts the pods again), then the sandboxes through CRI: CNI DEL for each
        for component in ("kubelet", "kube-scheduler", "kube-controller-manager"):
            self._stop(component, pids.get(component), timeout)
        cleaned = bool(pids.get("containerd") and runtime and self._remove_sandboxes(runtime, kube))
        for component in ("coredns", "kube-proxy", "containerd"):
            self._stop(component, pids.get(component), timeout)
        # whatever is left in the node's cgroups (shims, containers of a killed containerd)
        self._kill_cgroup_procs()
        if kube:
            _run([kube, "kube-proxy", "--cleanup", "--v=0"], check=False, timeout=60)
        for point in mounts_under(self.dir, Path("/run/containerd"), *([containerd_root(runtime)] if runtime else [])):
            if _run(["umount", point], check=False).returncode != 0:
                _run(["umount", "-l", point], check=False)
        if link_exists(BRIDGE):
            _run(["ip", "link", "delete", BRIDGE], check=False)
        sweep_iptables(self.log)
        for cg in our_cgroups():
            with contextlib.suppress(OSError):
                cg.rmdir()
        before = info.get("host_before", {}) if info else {}
        for name, value in (before.get("sysctls") or {}).items():
            if value is not None and read_sysctl(name) != value:
                write_sysctl(name, value)
        kept = set(before.get("host_paths", HOST_PATHS))
        for path in HOST_PATHS:
            if path not in kept and os.path.lexists(path) and not mounts_under(Path(path)):
                shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if runtime and not cleaned:
            # containerd's metadata may still name sandboxes and containers that are gone: start it afresh
            shutil.rmtree(containerd_root(runtime), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(self.claim_file().read_text()).get("dir") == str(self.dir):
                self.claim_file().unlink()
        return running

    def _stop(self, component: str, pid: int | None, timeout: float) -> None:
        if pid is not None:
            procs.terminate(pid, timeout, log=self.log, proc=self._procs.get(component))

    def _remove_sandboxes(self, runtime: Path, kube: str | None) -> bool:
        """Stop and remove every pod sandbox through CRI (containerd runs CNI DEL for each). True if done."""
        if not kube:
            return False
        proc = _run([kube, "cri-clean", f"--endpoint=unix://{self.sock}"], check=False, timeout=120)
        if proc.returncode != 0:
            self.log(f"removing the pod sandboxes through CRI failed ({proc.returncode}): {proc.stderr[-500:]}")
        return proc.returncode == 0

    def _kill_cgroup_procs(self) -> None:
        for _attempt in range(50):
            pids = set()
            for cg in our_cgroups():
                with contextlib.suppress(OSError):
                    pids |= {int(p) for p in (cg / "cgroup.procs").read_text().split()}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)


def containerd_root(runtime: Path) -> Path:
    """containerd's root (content store, snapshots, metadata) in the cache, so that images are imported and
    unpacked once, not at every `up`; keyed like the runtime binaries. Removed when a `down` could not stop
    the pods through containerd."""
    return cache_root() / f"node-containerd-{runtime.name.rsplit('-', 1)[-1]}"


def _pause_image() -> str:
    import images

    return images.PAUSE


def node_rss_kib() -> dict[str, int]:
    """RSS (KiB) of the node's processes, by command name (for the README's figures)."""
    out: dict[str, int] = {}
    proc = _run(["ps", "-eo", "rss=,args="], check=False)
    for line in proc.stdout.splitlines():
        rss, _, args = line.strip().partition(" ")
        words = args.split()
        if not words:
            continue
        prog = os.path.basename(words[0])
        if prog == "kube-node" and len(words) > 1:
            prog = words[1]
        if prog in ("containerd", "containerd-shim-runc-v2", *COMPONENTS):
            out[prog] = out.get(prog, 0) + int(rss)
    return out
