#!/usr/bin/env python3
"""A real, local Kubernetes control plane for tests -- no Docker needed.

Builds (once, cached outside the repo) and runs tools/controlplane: one Go binary
with an embedded etcd, kube-apiserver and the namespace / serviceaccounts /
root-CA-publisher controllers, all on 127.0.0.1 with free ports.

    python3 tools/cluster.py up        # build if needed, start, wait until ready
    python3 tools/cluster.py up --node # the same plus a real node (tools/node.py): pods run
    python3 tools/cluster.py status
    python3 tools/cluster.py mint-kubeconfig --user alice --group devs --out alice.kubeconfig
    python3 tools/cluster.py down      # stop and remove the state dir

State dir: --state-dir, else $DEVPI_CLUSTER_DIR, else <repo>/.cluster. It holds the
PKI, the etcd data, ports.json, pid, controlplane.log and -- only once the API
server is ready -- kubeconfig (admin, system:masters).

Binary: built by tools/gobuild.py into ${DEVPI_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/theedgeworks-devpi}/
controlplane-<sha256(go.mod, go.sum, *.go)[:16]>/kube-controlplane.
$DEVPI_CONTROLPLANE_BIN uses a prebuilt binary instead.
$DEVPI_CONTROLPLANE_EXTRA_ARGS adds kube-apiserver flags (whitespace separated).
With --node (make cluster-up NODE=1) a node joins: containerd, kubelet, kube-controller-manager,
kube-scheduler, kube-proxy (tools/node.py); `down` stops it first and leaves the host as it was.
Certificates and keys: tools/pki.py. Ports: tools/ports.py. Lifecycle (up, down, status, the command line):
tools/launcher.py; processes and files: tools/procs.py.

Python API (used by tests):

    cp = ControlPlane(state_dir).up()
    cp.kubeconfig                       # path of the admin kubeconfig
    cp.mint_kubeconfig("alice", ["devs"], path)
    cp.down()

Only the standard library and `cryptography` are used.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling tools modules, also when loaded by tests
import gobuild  # noqa: E402
import launcher  # noqa: E402
import procs  # noqa: E402
from ports import free_ports, port_open  # noqa: E402, F401 -- port_open and pid_alive: also for the tests
from procs import pid_alive  # noqa: E402, F401

REPO = Path(__file__).resolve().parent.parent
CLUSTER_NAME = "devpi-local"
ADMIN_USER = "devpi-admin"
DEFAULT_READY_TIMEOUT = 120.0
# namespaces the API server creates itself; "ready" waits for all of them
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public")


class ControlPlaneError(RuntimeError):
    """Start/stop failed. str() includes the tail of the control plane log when known."""


# --------------------------------------------------------------------------- paths


def default_state_dir() -> Path:
    return launcher.default_state_dir("DEVPI_CLUSTER_DIR", REPO / ".cluster")


# --------------------------------------------------------------------------- PKI and kubeconfigs


def _pki():
    """tools/pki.py, imported on first use: `down`, `status` and `--help` work without `cryptography`."""
    import pki

    return pki


def generate_pki(pki_dir: Path) -> None:
    """CA (signs serving and client certs), API server serving cert, admin client
    cert (O=system:masters) and the service-account signing key."""
    certs = _pki()
    pki_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    ca = certs.make_ca(f"{CLUSTER_NAME}-ca", days=3650)
    serving = certs.issue_leaf(
        ca,
        [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "::1",
            "10.0.0.1",
        ],
        common_name="kube-apiserver",
        key_kind="ec",
        days=365,
    )
    admin = certs.issue_client(ca, ADMIN_USER, ["system:masters"], days=365)
    for stem, pair in (("ca", ca), ("apiserver", serving), ("admin", admin)):
        certs.write_pair(pki_dir, pair, stem)
    sa_key = certs.new_key("ec")
    (pki_dir / "sa.pub").write_bytes(certs.public_key_pem(sa_key))
    certs.write_private(pki_dir / "sa.key", certs.key_pem(sa_key))


def _yaml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid YAML scalar


def render_kubeconfig(
    server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes, cluster: str = CLUSTER_NAME
) -> str:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    context = cluster if user == ADMIN_USER else f"{user}@{cluster}"
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {_yaml_str(cluster)}
  cluster:
    server: {_yaml_str(server)}
    certificate-authority-data: {b64(ca_pem)}
users:
- name: {_yaml_str(user)}
  user:
    client-certificate-data: {b64(cert_pem)}
    client-key-data: {b64(key_pem)}
contexts:
- name: {_yaml_str(context)}
  context:
    cluster: {_yaml_str(cluster)}
    user: {_yaml_str(user)}
current-context: {_yaml_str(context)}
preferences: {{}}
"""


# --------------------------------------------------------------------------- control plane


class ControlPlane(launcher.Launcher):
    """One control plane instance, identified by its state dir (lifecycle: tools/launcher.py)."""

    KIND = "cluster"
    WHAT = "control plane"
    LOG_NAME = "controlplane.log"
    CONTRACT_NAME = "kubeconfig"
    ERROR = ControlPlaneError
    READY_INTERVAL = 0.2

    def __init__(
        self,
        state_dir: str | os.PathLike | None = None,
        *,
        extra_apiserver_args: Iterable[str] = (),
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        die_with_parent: bool = False,
        log: Callable[[str], None] | None = None,
        node: bool = False,
    ):
        """die_with_parent: the control plane gets SIGTERM when the process that
        started it dies (Linux PR_SET_PDEATHSIG) -- for test sessions that may be
        killed without running their teardown. Not for the CLI `up`.
        node: `up` also starts a node (tools/node.py); the API server then gets the flags a node needs."""
        super().__init__(
            Path(state_dir).expanduser().resolve() if state_dir else default_state_dir(),
            ready_timeout=ready_timeout,
            die_with_parent=die_with_parent,
            log=log,
        )
        env_extra = shlex.split(os.environ.get("DEVPI_CONTROLPLANE_EXTRA_ARGS", ""))
        self.extra_apiserver_args = list(extra_apiserver_args) + env_extra
        self.with_node = node
        if node:
            self.extra_apiserver_args += self.node.apiserver_args()

    @property
    def node(self):
        """The node of this control plane (tools/node.py), running or not."""
        import node

        if getattr(self, "_node", None) is None:
            self._node = node.Node(self, log=self.log, die_with_parent=self.die_with_parent)
        return self._node

    # -- lifecycle with a node
    def up(self):
        if self.with_node:
            pid = self.pid()
            if pid is not None and "--authorization-mode=Node" not in procs.cmdline(pid):
                raise ControlPlaneError(
                    f"the control plane of {self.state_dir} runs without the node's API server flags "
                    "(--authorization-mode=Node, kubelet client certificate): stop it first (make cluster-down)"
                )
        before = self.pid()
        super().up()
        if self.with_node:
            import node

            if before is None or self.pid() != before:
                # a fresh control plane (new CA, ports): a node left from the last one cannot join it
                self.node.down()
            try:
                self.node.up(timeout=self.ready_timeout)
            except node.NodeError as e:
                raise ControlPlaneError(str(e)) from e
        return self

    def down(self, timeout: float = launcher.STOP_TIMEOUT) -> bool:
        """Stop the node (when there is one), then the control plane; remove the state dir."""
        node_ran = self.node.down(timeout) if (self.state_dir / "node").exists() else False
        return super().down(timeout) or node_ran

    # -- files
    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig; exists only while a ready control plane runs."""
        return self.contract_file

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def ports_file(self) -> Path:
        return self.state_dir / "ports.json"

    def ports(self) -> dict | None:
        return self._read_json(self.ports_file)

    def _ports(self) -> list[int]:
        return list((self.ports() or {}).values())

    @property
    def server(self) -> str | None:
        p = self.ports()
        return f"https://127.0.0.1:{p['apiserver']}" if p else None

    address = server

    def pid(self) -> int | None:
        """pid of the running control plane of this state dir, else None."""
        # guard against a recycled pid: must be our binary with our state dir
        etcd_dir = f"--etcd-dir={self.state_dir / 'etcd'}"
        return procs.live_pid(self.pid_file, lambda cmd: not cmd or etcd_dir in cmd)

    # -- HTTP
    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _get(self, path: str, timeout: float = 3.0) -> tuple[int, bytes]:
        req = urllib.request.Request(self.server + path)  # noqa: S310 -- always https://127.0.0.1:<port>
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as r:  # noqa: S310
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def healthy(self) -> bool:
        """/readyz is ok and the system namespaces exist."""
        if not self.server or not (self.pki / "admin.key").exists():
            return False
        try:
            code, body = self._get("/readyz")
            if code != 200 or body.strip() != b"ok":
                return False
            for ns in SYSTEM_NAMESPACES:
                if self._get(f"/api/v1/namespaces/{ns}")[0] != 200:
                    return False
            return True
        except (OSError, ssl.SSLError, urllib.error.URLError):
            return False

    # -- lifecycle (up, down, status: tools/launcher.py)
    def _prepare(self) -> Path:
        try:
            return gobuild.ensure_binary(self.log)
        except gobuild.GoBuildError as e:
            raise ControlPlaneError(str(e)) from e

    def _cleanup_stale(self) -> None:
        """Forget a previous (crashed or killed) instance: a fresh start gets new
        PKI, ports and an empty etcd. Other files in the state dir are kept."""
        if self.pid_file.exists() or self.kubeconfig.exists():
            self.log(f"removing stale control plane state in {self.state_dir}")
        procs.remove_stale(
            (self.pki, self.state_dir / "etcd"), (self.pid_file, self.kubeconfig, self.ports_file), self.log_file
        )

    def _start(self, binary: Path) -> "ControlPlane":
        t0 = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        generate_pki(self.pki)
        api_port, etcd_client, etcd_peer = free_ports(3)
        procs.atomic_write(
            self.ports_file,
            json.dumps({"apiserver": api_port, "etcd_client": etcd_client, "etcd_peer": etcd_peer}) + "\n",
            0o644,
        )
        server = self.server
        pki = self.pki
        procs.atomic_write(pki / "controllers.kubeconfig", self._admin_kubeconfig())
        args = [
            str(binary),
            f"--etcd-dir={self.state_dir / 'etcd'}",
            f"--etcd-client-port={etcd_client}",
            f"--etcd-peer-port={etcd_peer}",
            f"--controller-kubeconfig={pki / 'controllers.kubeconfig'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--profiling=false",
            *self.extra_apiserver_args,
        ]
        proc = self._spawn(args)
        self._wait_ready(proc.pid, t0)
        self._write_contract()
        self.last_ready_seconds = time.monotonic() - t0
        self.log(
            f"control plane ready in {self.last_ready_seconds:.1f}s (pid {proc.pid}, {server}, state {self.state_dir})"
        )
        return self

    def _admin_kubeconfig(self) -> str:
        pki = self.pki
        return render_kubeconfig(
            self.server,
            (pki / "ca.crt").read_bytes(),
            ADMIN_USER,
            (pki / "admin.crt").read_bytes(),
            (pki / "admin.key").read_bytes(),
        )

    def _write_contract(self) -> None:
        procs.atomic_write(self.kubeconfig, self._admin_kubeconfig())

    def _status_fields(self, pid: int | None) -> dict:
        out = {
            "server": self.server if pid else None,
            "ready": bool(pid) and self.healthy(),
            "kubeconfig": str(self.kubeconfig) if pid and self.kubeconfig.exists() else None,
        }
        if self.node.configured():
            # a node part that died (kubelet, containerd, ...) makes the cluster not ready: named in node.dead
            out["node"] = self.node.status()
            out["ready"] = out["ready"] and not out["node"]["dead"] and out["node"]["ready"]
        return out

    def mint_kubeconfig(
        self, user: str, groups: Sequence[str] = (), path: str | os.PathLike | None = None, days: int = 30
    ) -> Path:
        """Kubeconfig for a client cert CN=user, O=groups signed by the cluster's client CA."""
        if not (self.pki / "ca.key").exists() or not self.server:
            raise ControlPlaneError(f"no control plane state in {self.state_dir}; run `up` first")
        certs = _pki()
        ca = certs.load_pair((self.pki / "ca.crt").read_bytes(), (self.pki / "ca.key").read_bytes())
        client = certs.issue_client(ca, user, list(groups), days=days)
        out = Path(path) if path else self.state_dir / f"{user}.kubeconfig"
        ca_pem = (self.pki / "ca.crt").read_bytes()
        procs.atomic_write(out, render_kubeconfig(self.server, ca_pem, user, client.cert_pem, client.key_pem))
        return out


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    def build(_cp: ControlPlane, _args) -> int:
        try:
            print(gobuild.ensure_binary())
        except gobuild.GoBuildError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0

    def mint_arguments(p) -> None:
        p.add_argument("--user", required=True)
        p.add_argument("--group", action="append", default=[], dest="groups")
        p.add_argument("--out", required=True)

    def mint(cp: ControlPlane, args) -> int:
        if cp.pid() is None:
            print("warning: no control plane is running for", cp.state_dir, file=sys.stderr)
        print(cp.mint_kubeconfig(args.user, args.groups, args.out))
        return 0

    return launcher.cli(
        argv,
        prog="cluster.py",
        doc=__doc__,
        state_dir_help="default: $DEVPI_CLUSTER_DIR or <repo>/.cluster",
        launcher=ControlPlane,
        up_hint=lambda cp: (
            f"kubeconfig: {cp.kubeconfig}\n  export KUBECONFIG={cp.kubeconfig}\n  kubectl get "
            + ("nodes" if cp.with_node else "ns")
        ),
        commands={
            "build": ("only build the binary (into the cache) and print its path", lambda p: None, build),
            "mint-kubeconfig": ("kubeconfig for a restricted identity", mint_arguments, mint),
        },
        default_ready_timeout=DEFAULT_READY_TIMEOUT,
        up_arguments=lambda p: p.add_argument(
            "--node", action="store_true", help="also start a node (containerd, kubelet, ...): pods run (root)"
        ),
        launcher_kwargs=lambda args: {"node": bool(getattr(args, "node", False))},
    )


if __name__ == "__main__":
    sys.exit(main())
