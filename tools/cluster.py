#!/usr/bin/env python3
"""A real, local Kubernetes control plane for tests -- no Docker needed.

Builds (once, cached outside the repo) and runs tools/controlplane: one Go binary
with an embedded etcd, kube-apiserver and the namespace / serviceaccounts /
root-CA-publisher controllers, all on 127.0.0.1 with free ports.

    python3 tools/cluster.py up        # build if needed, start, wait until ready
    python3 tools/cluster.py status
    python3 tools/cluster.py mint-kubeconfig --user alice --group devs --out alice.kubeconfig
    python3 tools/cluster.py down      # stop and remove the state dir

State dir: --state-dir, else $DEVPI_CLUSTER_DIR, else <repo>/.cluster. It holds the
PKI, the etcd data, ports.json, pid, controlplane.log and -- only once the API
server is ready -- kubeconfig (admin, system:masters).

Binary cache: ${DEVPI_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/theedgeworks-devpi}/
controlplane-<sha256(go.mod, go.sum, *.go)[:16]>/kube-controlplane.
$DEVPI_CONTROLPLANE_BIN uses a prebuilt binary instead.
$DEVPI_CONTROLPLANE_EXTRA_ARGS adds kube-apiserver flags (whitespace separated).

Python API (used by tests):

    cp = ControlPlane(state_dir).up()
    cp.kubeconfig                       # path of the admin kubeconfig
    cp.mint_kubeconfig("alice", ["devs"], path)
    cp.down()

Only the standard library and `cryptography` are used.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parent.parent
SRC_DIR = REPO / "tools" / "controlplane"
BINARY_NAME = "kube-controlplane"
CLUSTER_NAME = "devpi-local"
ADMIN_USER = "devpi-admin"
DEFAULT_READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
# namespaces the API server creates itself; "ready" waits for all of them
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public")


class ControlPlaneError(RuntimeError):
    """Start/stop failed. str() includes the tail of the control plane log when known."""


# --------------------------------------------------------------------------- paths


def default_state_dir() -> Path:
    env = os.environ.get("DEVPI_CLUSTER_DIR")
    return Path(env).expanduser().resolve() if env else REPO / ".cluster"


def cache_root() -> Path:
    env = os.environ.get("DEVPI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "theedgeworks-devpi"


def source_hash(src_dir: Path = SRC_DIR) -> str:
    """sha256 over go.mod, go.sum and every *.go file (names and contents)."""
    h = hashlib.sha256()
    files = [src_dir / "go.mod", src_dir / "go.sum"] + sorted(src_dir.rglob("*.go"))
    for f in files:
        h.update(str(f.relative_to(src_dir)).encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def binary_path(src_dir: Path = SRC_DIR) -> Path:
    return cache_root() / f"controlplane-{source_hash(src_dir)}" / BINARY_NAME


def kube_version(src_dir: Path = SRC_DIR) -> str:
    for line in (src_dir / "go.mod").read_text().splitlines():
        parts = line.split()
        if "k8s.io/kubernetes" in parts and "=>" not in parts:
            return parts[parts.index("k8s.io/kubernetes") + 1]
    raise ControlPlaneError("go.mod does not require k8s.io/kubernetes")


@contextlib.contextmanager
def _flock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- build


def ensure_binary(log: Callable[[str], None] = print, src_dir: Path = SRC_DIR) -> Path:
    """Path of the control plane binary, building it into the cache if needed."""
    env_bin = os.environ.get("DEVPI_CONTROLPLANE_BIN")
    if env_bin:
        p = Path(env_bin).expanduser()
        if not os.access(p, os.X_OK):
            raise ControlPlaneError(f"DEVPI_CONTROLPLANE_BIN={env_bin} is not an executable file")
        return p
    target = binary_path(src_dir)
    if target.is_file():
        return target
    with _flock(target.parent.parent / f".{target.parent.name}.lock"):
        if target.is_file():  # built meanwhile by someone else
            return target
        go = shutil.which("go")
        if not go:
            raise ControlPlaneError(
                "`go` not found in PATH; it is needed once to build the control plane (or set DEVPI_CONTROLPLANE_BIN)"
            )
        version = kube_version(src_dir)
        minor = version.split(".")[1]
        pkg = "k8s.io/component-base/version"
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        ldflags = " ".join(
            [
                "-s",
                "-w",
                f"-X {pkg}.gitVersion={version}",
                f"-X {pkg}.gitMajor=1",
                f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean",
                f"-X {pkg}.buildDate={now}",
            ]
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{BINARY_NAME}.{os.getpid()}.tmp"
        log(
            f"building {BINARY_NAME} (k8s.io/kubernetes {version}) into {target} -- "
            f"a cold build takes several minutes ..."
        )
        t0 = time.monotonic()
        proc = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), "."],
            cwd=src_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise ControlPlaneError(f"go build failed ({proc.returncode}):\n{proc.stdout[-4000:]}")
        os.replace(tmp, target)
        log(f"built {BINARY_NAME} in {time.monotonic() - t0:.1f}s ({target.stat().st_size / 1e6:.0f} MB)")
        return target


# --------------------------------------------------------------------------- PKI


def _crypto():
    # imported lazily so `--help` and `down` work without cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key) -> bytes:
    _, _, serialization, *_ = _crypto()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert) -> bytes:
    _, _, serialization, *_ = _crypto()
    return cert.public_bytes(serialization.Encoding.PEM)


def _new_cert(
    subject_cn: str,
    *,
    orgs: Sequence[str] = (),
    ca=None,
    ca_key=None,
    is_ca=False,
    server_names: Sequence[str] = (),
    server_ips: Sequence[str] = (),
    client=False,
    days: int = 365,
):
    x509, hashes, _, ec, EKU, NameOID = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject_cn))
    name = x509.Name(attrs)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.subject if ca is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # Python >= 3.13 verifies with VERIFY_X509_STRICT, which wants the key identifiers in issued certificates.
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        usages = [EKU.CLIENT_AUTH] if client else [EKU.SERVER_AUTH]
        b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if server_names or server_ips:
            sans = [x509.DNSName(n) for n in server_names]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in server_ips]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = b.sign(ca_key if ca_key is not None else key, hashes.SHA256())
    return cert, key


def generate_pki(pki: Path) -> None:
    """CA (signs serving and client certs), API server serving cert, admin client
    cert (O=system:masters) and the service-account signing key."""
    x509, _, serialization, ec, *_ = _crypto()
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    ca, ca_key = _new_cert(f"{CLUSTER_NAME}-ca", is_ca=True, days=3650)
    serving, serving_key = _new_cert(
        "kube-apiserver",
        ca=ca,
        ca_key=ca_key,
        server_names=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        server_ips=["127.0.0.1", "::1", "10.0.0.1"],
    )
    admin, admin_key = _new_cert(ADMIN_USER, orgs=["system:masters"], ca=ca, ca_key=ca_key, client=True)
    sa_key = ec.generate_private_key(ec.SECP256R1())
    for name, data in [
        ("ca.crt", _cert_pem(ca)),
        ("apiserver.crt", _cert_pem(serving)),
        ("admin.crt", _cert_pem(admin)),
        (
            "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        ),
    ]:
        (pki / name).write_bytes(data)
    for name, key in [("ca.key", ca_key), ("apiserver.key", serving_key), ("admin.key", admin_key), ("sa.key", sa_key)]:
        _write_private(pki / name, _key_pem(key))


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


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- processes


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True while pid runs (zombies count as dead; our own zombie children are reaped)."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False

    def state(stat_path: str) -> str:
        with open(stat_path) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]

    try:
        if state(f"/proc/{pid}/stat") not in ("Z", "X"):
            return True
        # a multi-threaded process's leader turns zombie before its other threads
        # have exited and released the process's sockets: alive while any task is
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError):
                if state(f"/proc/{pid}/task/{task}/stat") not in ("Z", "X"):
                    return True
        return False
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _set_pdeathsig() -> None:
    """In the child before exec: receive SIGTERM when the parent dies."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------- control plane


class ControlPlane:
    """One control plane instance, identified by its state dir."""

    def __init__(
        self,
        state_dir: str | os.PathLike | None = None,
        *,
        extra_apiserver_args: Iterable[str] = (),
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        die_with_parent: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        """die_with_parent: the control plane gets SIGTERM when the process that
        started it dies (Linux PR_SET_PDEATHSIG) -- for test sessions that may be
        killed without running their teardown. Not for the CLI `up`."""
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir else default_state_dir()
        env_extra = shlex.split(os.environ.get("DEVPI_CONTROLPLANE_EXTRA_ARGS", ""))
        self.extra_apiserver_args = list(extra_apiserver_args) + env_extra
        self.ready_timeout = ready_timeout
        self.die_with_parent = die_with_parent
        self.log = log or (lambda msg: print(msg, flush=True))
        self.last_build_seconds: float | None = None
        self.last_ready_seconds: float | None = None

    # -- files
    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig; exists only while a ready control plane runs."""
        return self.state_dir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "controlplane.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pid"

    @property
    def ports_file(self) -> Path:
        return self.state_dir / "ports.json"

    def _lock(self):
        key = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:16]
        return _flock(cache_root() / "locks" / f"cluster-{key}.lock")

    def ports(self) -> dict | None:
        try:
            return json.loads(self.ports_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def server(self) -> str | None:
        p = self.ports()
        return f"https://127.0.0.1:{p['apiserver']}" if p else None

    def pid(self) -> int | None:
        """pid of the running control plane of this state dir, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        cmd = _cmdline(pid)
        # guard against a recycled pid: must be our binary with our state dir
        if cmd and f"--etcd-dir={self.state_dir / 'etcd'}" not in cmd:
            return None
        return pid

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

    # -- lifecycle
    def up(self) -> "ControlPlane":
        with self._lock():
            pid = self.pid()
            if pid is not None:
                if self.healthy() and self.kubeconfig.exists():
                    self.log(f"control plane already running (pid {pid}, {self.server})")
                    return self
                # running but not (yet) ready: e.g. a concurrent `up` -- wait for it
                self._wait_ready(pid, time.monotonic())
                self._write_admin_kubeconfig()
                return self
            self._cleanup_stale()
            binary = ensure_binary(self.log)
            return self._start(binary)

    def _cleanup_stale(self) -> None:
        """Forget a previous (crashed or killed) instance: a fresh start gets new
        PKI, ports and an empty etcd. Other files in the state dir are kept."""
        if self.pid_file.exists() or self.kubeconfig.exists():
            self.log(f"removing stale control plane state in {self.state_dir}")
        for d in (self.pki, self.state_dir / "etcd"):
            shutil.rmtree(d, ignore_errors=True)
        for f in (self.pid_file, self.kubeconfig, self.ports_file):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        if self.log_file.exists():
            os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))

    def _start(self, binary: Path) -> "ControlPlane":
        t0 = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        generate_pki(self.pki)
        api_port, etcd_client, etcd_peer = _free_ports(3)
        _atomic_write(
            self.ports_file,
            json.dumps({"apiserver": api_port, "etcd_client": etcd_client, "etcd_peer": etcd_peer}) + "\n",
            0o644,
        )
        server = self.server
        pki = self.pki
        _atomic_write(
            pki / "controllers.kubeconfig",
            render_kubeconfig(
                server,
                (pki / "ca.crt").read_bytes(),
                ADMIN_USER,
                (pki / "admin.crt").read_bytes(),
                (pki / "admin.key").read_bytes(),
            ),
        )
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
        with open(self.log_file, "ab") as logfh:
            logfh.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(args)}\n".encode())
            logfh.flush()
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_set_pdeathsig if self.die_with_parent else None,
            )
        self._proc = proc  # keeps the Popen so an early exit is reaped and its code known
        _atomic_write(self.pid_file, f"{proc.pid}\n", 0o644)
        self._wait_ready(proc.pid, t0)
        self._write_admin_kubeconfig()
        self.last_ready_seconds = time.monotonic() - t0
        self.log(
            f"control plane ready in {self.last_ready_seconds:.1f}s (pid {proc.pid}, {server}, state {self.state_dir})"
        )
        return self

    def _wait_ready(self, pid: int, t0: float) -> None:
        deadline = t0 + self.ready_timeout
        while True:
            proc = getattr(self, "_proc", None)
            rc = proc.poll() if proc is not None and proc.pid == pid else None
            if rc is not None or not pid_alive(pid):
                self._remove_runtime_files()
                raise ControlPlaneError(
                    f"control plane exited during startup (exit code {rc if rc is not None else '?'}); "
                    f"last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            if self.healthy():
                return
            if time.monotonic() > deadline:
                self._terminate(pid)
                self._remove_runtime_files()
                raise ControlPlaneError(
                    f"control plane not ready after {self.ready_timeout:.0f}s; stopped it. "
                    f"last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _remove_runtime_files(self) -> None:
        for f in (self.pid_file, self.kubeconfig):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()

    def _write_admin_kubeconfig(self) -> None:
        pki = self.pki
        _atomic_write(
            self.kubeconfig,
            render_kubeconfig(
                self.server,
                (pki / "ca.crt").read_bytes(),
                ADMIN_USER,
                (pki / "admin.crt").read_bytes(),
                (pki / "admin.key").read_bytes(),
            ),
        )

    def _terminate(self, pid: int, timeout: float = STOP_TIMEOUT) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            self.log(f"pid {pid} still running after {timeout:.0f}s; sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.pid == pid:
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)

    def down(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the control plane and remove the state dir. True if one was running."""
        with self._lock():
            pid = self.pid()
            ports = self.ports() or {}
            if pid is not None:
                self._terminate(pid, timeout)
            deadline = time.monotonic() + 15
            while any(port_open(p) for p in ports.values()) and time.monotonic() < deadline:
                time.sleep(0.1)
            still = [p for p in ports.values() if port_open(p)]
            if still and pid is not None:
                raise ControlPlaneError(f"ports {still} still answer after stopping pid {pid}")
            if self.state_dir.exists():
                shutil.rmtree(self.state_dir)
            return pid is not None

    def status(self) -> dict:
        pid = self.pid()
        return {
            "state_dir": str(self.state_dir),
            "running": pid is not None,
            "pid": pid,
            "server": self.server if pid else None,
            "ready": bool(pid) and self.healthy(),
            "kubeconfig": str(self.kubeconfig) if pid and self.kubeconfig.exists() else None,
            "log": str(self.log_file),
        }

    def mint_kubeconfig(
        self, user: str, groups: Sequence[str] = (), path: str | os.PathLike | None = None, days: int = 30
    ) -> Path:
        """Kubeconfig for a client cert CN=user, O=groups signed by the cluster's client CA."""
        x509, _, serialization, *_ = _crypto()
        if not (self.pki / "ca.key").exists() or not self.server:
            raise ControlPlaneError(f"no control plane state in {self.state_dir}; run `up` first")
        ca = x509.load_pem_x509_certificate((self.pki / "ca.crt").read_bytes())
        ca_key = serialization.load_pem_private_key((self.pki / "ca.key").read_bytes(), password=None)
        cert, key = _new_cert(user, orgs=list(groups), ca=ca, ca_key=ca_key, client=True, days=days)
        out = Path(path) if path else self.state_dir / f"{user}.kubeconfig"
        _atomic_write(
            out,
            render_kubeconfig(self.server, (self.pki / "ca.crt").read_bytes(), user, _cert_pem(cert), _key_pem(key)),
        )
        return out


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="cluster.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--state-dir", help="default: $DEVPI_CLUSTER_DIR or <repo>/.cluster")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build if needed, start, wait until ready (idempotent)")
    p_up.add_argument("--timeout", type=float, default=DEFAULT_READY_TIMEOUT, help="seconds to wait for ready")
    sub.add_parser("down", help="stop and remove the state dir")
    sub.add_parser("status", help="exit 0 if running and ready, 1 if running but not ready, 3 if stopped")
    sub.add_parser("build", help="only build the binary (into the cache) and print its path")
    p_mint = sub.add_parser("mint-kubeconfig", help="kubeconfig for a restricted identity")
    p_mint.add_argument("--user", required=True)
    p_mint.add_argument("--group", action="append", default=[], dest="groups")
    p_mint.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    cp = ControlPlane(args.state_dir, ready_timeout=getattr(args, "timeout", DEFAULT_READY_TIMEOUT))
    try:
        if args.cmd == "up":
            cp.up()
            print(f"kubeconfig: {cp.kubeconfig}\n  export KUBECONFIG={cp.kubeconfig}\n  kubectl get ns")
        elif args.cmd == "down":
            print("stopped" if cp.down() else "not running", f"(removed {cp.state_dir})")
        elif args.cmd == "status":
            st = cp.status()
            print(json.dumps(st, indent=2))
            return 0 if st["ready"] else (1 if st["running"] else 3)
        elif args.cmd == "build":
            print(ensure_binary())
        elif args.cmd == "mint-kubeconfig":
            if cp.pid() is None:
                print("warning: no control plane is running for", cp.state_dir, file=sys.stderr)
            print(cp.mint_kubeconfig(args.user, args.groups, args.out))
    except ControlPlaneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
