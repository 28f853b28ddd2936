"""devpi's stack in pods, as Flux runs it: site.yml, then exactly examples/flux/ (kustomize), on a real node
(issue 17: the in-pod proofs of items 3, 4 and 5).

One node, one Keycloak (on the host: the session's), one deployed stack for the whole module; the tests run in
file order on it. The overlay made in tmp adds only what this cluster lacks or the test decides - a hostPath
PersistentVolume for the PVC (no provisioner here) and oauth2-proxy's issuer URL (the Keycloak of the test) -; the
namespace `devpi` and the host pypi.theedgeworks.ai are the manifests' own. Pods reach the host on the node's IP
only, Keycloak listens on 127.0.0.1: a TCP forwarder on the node IP carries oauth2-proxy's requests and the
browser's, so both see one issuer. The test reaches the front door (nginx pod) on its Service's cluster IP, port
443, with SNI and certificate checks for pypi.theedgeworks.ai.

Every proof reads status codes, exit codes, pod UIDs and the role's JSON report. Needs root and cgroup v1;
wrap a run in `flock /tmp/devpi-node.lock` (one node per host).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from helpers.keycloak_fixture import client_secret
from helpers.kube import REPO, cluster, kubectl, kubectl_json
from helpers.site import CLIENT_SECRET, make_inputs, read_secrets, run_site
from helpers.tools import images, node
from tests.e2e.drivers import keycloak as kcd
from tests.e2e.drivers.browser import Browser
from tests.e2e.drivers.devpi import build_test_wheel
from tests.e2e.drivers.nginx import pip_download

pytestmark = pytest.mark.skipif(
    bool(node.host_problems()), reason="; ".join(node.host_problems()) or "node needs root and cgroup v1"
)

EXAMPLES = REPO / "examples" / "flux"
NS = "devpi"  # examples/flux/kustomization.yaml
HOST = "pypi.theedgeworks.ai"  # the manifests' host (server_name, --redirect-url) and the test certificate's
BASE = f"https://{HOST}"
APPS = ("devpi-server", "oauth2-proxy", "devpi-front-door")  # app.kubernetes.io/name of each Deployment
USER, PASSWORD = "dev", "dev-test-password"  # the test realm's user (tests/keycloak/README.md)
SA = "devpi-bootstrap"  # the test realm's service account with view-clients + manage-clients
ISSUER_ARG = "--oidc-issuer-url=https://keycloak.theedgeworks.ai/realms/theedgeworks"  # in the manifest, replaced
INDEX = "root/private"
PACKAGE = "theedgeworks-pods-probe"
GRACE = 20  # seconds; the pod's terminationGracePeriodSeconds is 30 (the default)
BAD = "devpi-whole-volume"  # item 5's workload: the reference Deployment with devpi-secret mounted whole
TIMES: dict[str, float] = {}


def took(name: str, t0: float) -> float:
    TIMES[name] = time.monotonic() - t0
    print(f"\n[pods] {name}: {TIMES[name]:.1f}s")
    return TIMES[name]


class Forwarder:
    """TCP from (node IP, a free port) to 127.0.0.1:port, in threads of this process: what pods cannot reach."""

    def __init__(self, listen_host: str, target_port: int):
        self.server = socket.create_server((listen_host, 0))
        self.host, self.port = listen_host, self.server.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self.server.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._pair, args=(conn,), daemon=True).start()

    def _pair(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        done = threading.Barrier(2, action=lambda: (conn.close(), upstream.close()))
        for src, dst in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pipe, args=(src, dst, done), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(threading.BrokenBarrierError):
            done.wait(timeout=60)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.server.close()


def overlay(directory: Path, issuer: str, data_dir: Path) -> Path:
    """A kustomization over examples/flux/ (unchanged): a hostPath PersistentVolume pre-bound to its PVC, and
    oauth2-proxy's issuer URL (a JSON patch that first tests the manifest's value)."""
    directory.mkdir(parents=True, exist_ok=True)
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "devpi-server-data-test"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(data_dir), "type": "DirectoryOrCreate"},
            "claimRef": {"namespace": NS, "name": "devpi-server-data"},
        },
    }
    (directory / "pv.yaml").write_text(yaml.safe_dump(pv))
    path = "/spec/template/spec/containers/0/args/1"
    patch = [
        {"op": "test", "path": path, "value": ISSUER_ARG},
        {"op": "replace", "path": path, "value": f"--oidc-issuer-url={issuer}"},
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(EXAMPLES, directory), "pv.yaml"],  # kustomize refuses absolute paths
        "patches": [{"target": {"kind": "Deployment", "name": "oauth2-proxy"}, "patch": json.dumps(patch)}],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


# --------------------------------------------------------------------------- pods


def app_pods(kubeconfig, app: str) -> list[dict]:
    return kubectl_json("-n", NS, "get", "pods", "-l", f"app.kubernetes.io/name={app}", kubeconfig=kubeconfig)["items"]


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def uids(kubeconfig) -> dict[str, list[str]]:
    return {app: sorted(p["metadata"]["uid"] for p in app_pods(kubeconfig, app)) for app in APPS}


def generations(kubeconfig) -> dict[str, int]:
    items = kubectl_json("-n", NS, "get", "deployments", kubeconfig=kubeconfig)["items"]
    return {d["metadata"]["name"]: d["metadata"]["generation"] for d in items}


def wait_one_ready(kubeconfig, app: str, old: str | None = None, timeout: float = 240) -> str:
    """The UID of the app's one pod once it is Ready, is not `old` and no other pod of the app is left."""
    deadline = time.monotonic() + timeout
    while True:
        pods = app_pods(kubeconfig, app)
        if len(pods) == 1 and pods[0]["metadata"]["uid"] != old and is_ready(pods[0]):
            return pods[0]["metadata"]["uid"]
        states = [(p["metadata"]["uid"][:8], p["status"].get("phase"), is_ready(p)) for p in pods]
        assert time.monotonic() < deadline, f"{app}: no single new Ready pod after {timeout}s: {states}"
        time.sleep(0.5)


# --------------------------------------------------------------------------- HTTP through the front door


@dataclass
class Door:
    """Requests to the front door's Service (cluster IP:443) as pypi.theedgeworks.ai (SNI, certificate, Host)."""

    address: str
    cafile: Path

    def request(self, method: str, path: str, *, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        conn = http.client.HTTPSConnection(HOST, 443, context=ctx, timeout=60)
        address = self.address
        conn._create_connection = lambda addr, *a, **kw: socket.create_connection((address, addr[1]), *a, **kw)
        try:
            conn.request(method, path, body=body or None, headers={"Accept": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def browser(self, keycloak_host: str) -> Browser:
        return Browser(self.cafile, {HOST: 443}, address=self.address, http_hosts=(keycloak_host,))

    def pip(self, dest: Path, credentials: tuple[str, str]) -> int:
        """`pip install` of the probe package from root/private through the front door: its exit code."""
        user, password = (urllib.parse.quote(c, safe="") for c in credentials)
        index = f"https://{user}:{password}@{HOST}/{INDEX}/+simple/"
        proc = pip_download(index, PACKAGE, dest, cert=self.cafile, pin=HOST, install=True, address=self.address)
        return proc.returncode


def basic(credentials: tuple[str, str]) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode()}


def devpi_auth(user: str, token: str) -> dict:
    """devpi-client's header for a login token."""
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{token}".encode()).decode()}


def devpi_login(door: Door, credentials, user: str, password: str) -> tuple[int, str | None]:
    status, body = door.request(
        "POST", "/+login", body=json.dumps({"user": user, "password": password}).encode(),
        headers={**basic(credentials), "Content-Type": "application/json"},
    )  # fmt: skip
    return status, json.loads(body)["result"]["password"] if status == 200 else None


def devpi_write(door: Door, credentials, token: str) -> int:
    """A write only a logged-in root may make: a new index under /root/ (behind basic auth). Its status."""
    name = f"probe-{secrets.token_hex(3)}"
    status = door.request(
        "PUT", f"/root/{name}", body=json.dumps({"bases": [], "volatile": True}).encode(),
        headers={**basic(credentials), **devpi_auth("root", token), "Content-Type": "application/json"},
    )[0]  # fmt: skip
    return status


def upload(door: Door, credentials, token: str, wheel: Path, version: str) -> int:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in ((":action", "file_upload"), ("name", PACKAGE), ("version", version)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + wheel.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status = door.request(
        "POST", f"/{INDEX}/", body=b"".join(parts),
        headers={**basic(credentials), **devpi_auth("root", token),
                 "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )[0]  # fmt: skip
    return status


# --------------------------------------------------------------------------- the stack


@dataclass(repr=False)  # holds the Secrets' values: keep them out of failure reports
class Stack:
    cp: object
    kubeconfig: str
    inputs: object
    keycloak_vars: dict
    door: Door
    keycloak_host: str
    keycloak_prefix: str
    tmp: Path
    root_password: str = ""
    token: str = ""
    session: Browser | None = None
    notes: dict = field(default_factory=dict)

    def site(self, *args: str, **extra):
        return run_site(self.kubeconfig, NS, self.inputs, *args, extra={**self.keycloak_vars, **extra})

    def client_credentials(self) -> tuple[str, str]:
        data = read_secrets(self.kubeconfig, NS)[CLIENT_SECRET]["data"]
        return base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode()

    def login(self) -> tuple[Browser, list[int]]:
        """A fresh browser through the whole login: the status of every hop, then of /oauth2/auth."""
        b = self.door.browser(self.keycloak_host)
        home = b.get(f"{BASE}/")
        assert home.status == 302 and home.headers["location"] == f"{BASE}/oauth2/start?rd=/", home.status
        kcd.login(b, home.headers["location"], USER, PASSWORD)
        b.get(f"{BASE}/oauth2/auth")
        return b, [s.status for s in b.steps]


def restart_report(run) -> dict:
    return (run.captured.get("localhost") or {}).get("restart") or {}


def restarted(run) -> dict:
    return {(w["kind"], w["name"]): w["action"] for w in restart_report(run).get("workloads", [])}


@pytest.fixture(scope="module")
def stack(keycloak, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pods")
    images.ensure(["pause", "devpi-server", "oauth2-proxy", "nginx"], log=lambda m: None)
    client = kcd.RealmClient.create(keycloak, f"devpi-pods-{secrets.token_hex(3)}", redirect_uris=[], web_origins=[])
    logs: list[str] = []
    cp = cluster.ControlPlane(tmp / "cluster", node=True, die_with_parent=True, log=logs.append)
    forwarder = None
    try:
        t0 = time.monotonic()
        cp.up()
        took("cluster up with a node (control plane, node Ready, images imported)", t0)
        TIMES["node Ready"] = cp.node.last_ready_seconds
        print("[pods] " + "\n[pods] ".join(m for m in logs if "images:" in m or "Ready in" in m))
        kubeconfig = str(cp.kubeconfig)
        forwarder = Forwarder(node.node_ip(), urllib.parse.urlsplit(keycloak.url).port)
        issuer = f"http://{forwarder.host}:{forwarder.port}/realms/{keycloak.realm}"

        kubectl("create", "namespace", NS, kubeconfig=kubeconfig)
        inputs = make_inputs(tmp / "inputs", host=HOST)
        keycloak_vars = {
            "devpi_secrets_keycloak_url": keycloak.url,  # the role runs on the host
            "devpi_secrets_keycloak_realm": keycloak.realm,
            "devpi_secrets_keycloak_auth_client_id": SA,
            "devpi_secrets_keycloak_auth_client_secret": client_secret(SA),
            "devpi_secrets_oauth2_client_id": client.client_id,
            "devpi_secrets_oauth2_client_secret": None,  # read from Keycloak
        }
        cafile = tmp / "ca.crt"
        cafile.write_bytes(inputs.ca.cert_pem)
        s = Stack(cp, kubeconfig, inputs, keycloak_vars, None, forwarder.host, issuer.rsplit("/realms/", 1)[0], tmp)
        t0 = time.monotonic()
        first = s.site()
        took("site.yml, first run (with Keycloak)", t0)
        assert first.rc == 0, first.output[-3000:]

        deadline = time.monotonic() + 30  # pods need the namespace's default ServiceAccount
        while kubectl("-n", NS, "get", "sa", "default", kubeconfig=kubeconfig, check=False).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        t0 = time.monotonic()
        kubectl("apply", "--server-side", "-k", str(overlay(tmp / "overlay", issuer, tmp / "devpi-data")),
                kubeconfig=kubeconfig, timeout=120)  # fmt: skip
        for app in APPS:
            wait_one_ready(kubeconfig, app)
        took("pods Ready after kubectl apply -k (devpi-server, oauth2-proxy, nginx)", t0)
        service = kubectl_json("-n", NS, "get", "svc", "devpi-front-door", kubeconfig=kubeconfig)
        s.door = Door(service["spec"]["clusterIP"], cafile)

        # devpi: root logs in (devpi-init left its password empty), makes root/private and uploads one wheel
        credentials = s.client_credentials()
        status, s.token = devpi_login(s.door, credentials, "root", s.root_password)
        assert status == 200, status
        status = s.door.request(
            "PUT", f"/{INDEX}", body=json.dumps({"bases": [], "volatile": False}).encode(),
            headers={**basic(credentials), **devpi_auth("root", s.token), "Content-Type": "application/json"},
        )[0]  # fmt: skip
        assert status == 200, status
        wheel = build_test_wheel(tmp / "wheel", PACKAGE, "1.0.0")
        assert upload(s.door, credentials, s.token, wheel, "1.0.0") == 200
        yield s
    finally:
        rss = node.node_rss_kib() if cp.node.configured() else {}
        if rss:
            print("\n[pods] node RSS (MiB): " + ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(rss.items())))
            print(f"[pods] node RSS total: {sum(rss.values()) / 1024:.0f} MiB")
        t0 = time.monotonic()
        cp.down()
        took("cluster down", t0)
        print("[pods] times: " + json.dumps({k: round(v, 1) for k, v in TIMES.items()}))
        if forwarder:
            forwarder.close()
        client.delete()


# --------------------------------------------------------------------------- item 3


def test_1_keycloak_login_through_the_front_door_pod(stack):
    """/ -> 302 to oauth2-proxy's start -> 302 to Keycloak (through the node IP) -> its login page 200 -> the form
    POST 302 to the callback -> 302 back to / -> the devpi web page 200; /oauth2/auth then answers 202."""
    t0 = time.monotonic()
    b, statuses = stack.login()
    took("proof: Keycloak login through the front door", t0)
    assert statuses == [302, 302, 200, 302, 302, 200, 202], b.steps_report()
    assert b.steps[2].url.startswith(f"{stack.keycloak_prefix}/realms/"), b.steps[2].url  # Keycloak's page
    assert b.steps[4].url.startswith(f"{BASE}/oauth2/callback?"), b.steps[4].url
    assert b.cookie("_oauth2_proxy")
    stack.session = b


def test_2_pip_install_with_the_client_password_and_not_with_a_wrong_one(stack, tmp_path):
    t0 = time.monotonic()
    user, password = stack.client_credentials()
    assert stack.door.pip(tmp_path / "ok", (user, password)) == 0
    assert len(list((tmp_path / "ok").glob("theedgeworks_pods_probe-1.0.0.dist-info"))) == 1
    wrong = (user, password + "x")
    assert stack.door.request("GET", f"/{INDEX}/+simple/{PACKAGE}/", headers=basic(wrong))[0] == 401
    assert stack.door.request("GET", f"/{INDEX}/+simple/{PACKAGE}/", headers=basic((user, password)))[0] == 200
    assert stack.door.pip(tmp_path / "wrong", wrong) != 0
    assert not (tmp_path / "wrong").exists() or not list((tmp_path / "wrong").glob("*.dist-info"))
    took("proof: pip install through the front door (right and wrong password)", t0)


def test_3_a_devpi_login_token_survives_a_pod_restart(stack):
    credentials = stack.client_credentials()
    assert devpi_write(stack.door, credentials, stack.token) == 200
    assert devpi_write(stack.door, credentials, "not-a-token") in (401, 403)  # the control: a write needs the login
    (old,) = uids(stack.kubeconfig)["devpi-server"]
    t0 = time.monotonic()
    (pod,) = app_pods(stack.kubeconfig, "devpi-server")
    kubectl("-n", NS, "delete", "pod", pod["metadata"]["name"], "--wait=false", kubeconfig=stack.kubeconfig)
    deadline = t0 + GRACE
    while old in uids(stack.kubeconfig)["devpi-server"] and time.monotonic() < deadline:
        time.sleep(0.2)
    # devpi-server stops on SIGTERM: gone well before the grace period's SIGKILL (as PID 1 it ignored SIGTERM)
    assert old not in uids(stack.kubeconfig)["devpi-server"], f"old devpi-server pod still there after {GRACE}s"
    took("devpi-server pod deleted -> gone", t0)
    new = wait_one_ready(stack.kubeconfig, "devpi-server", old=old)
    took("devpi-server pod deleted -> new pod Ready", t0)
    assert new != old
    assert devpi_write(stack.door, credentials, stack.token) == 200


# --------------------------------------------------------------------------- item 4


def test_4_rotating_devpi_secret_restarts_devpi_and_its_old_tokens_die(stack):
    credentials = stack.client_credentials()
    before = uids(stack.kubeconfig)
    t0 = time.monotonic()
    run = stack.site(devpi_secrets_rotate=["devpi-secret"])
    assert run.rc == 0, run.output[-3000:]
    assert run.action("devpi-secret") == "rotated"
    assert restarted(run) == {("Deployment", "devpi-server"): "restarted"}
    new = wait_one_ready(stack.kubeconfig, "devpi-server", old=before["devpi-server"][0])
    took("proof: rotate devpi-secret -> devpi-server restarted, Ready", t0)
    after = uids(stack.kubeconfig)
    assert after == {**before, "devpi-server": [new]}
    refused = devpi_write(stack.door, credentials, stack.token)
    print(f"[pods] a write with the token made before the rotation: {refused}")
    assert refused in (401, 403)
    status, token = devpi_login(stack.door, credentials, "root", stack.root_password)
    assert status == 200 and token != stack.token
    assert devpi_write(stack.door, credentials, token) == 200
    stack.token = token


def test_5_rotating_the_oauth2_proxy_secret_ends_the_session_and_a_new_login_works(stack):
    old = stack.session
    assert old is not None, "test_1 logs in first"
    assert old.get(f"{BASE}/oauth2/auth").status == 202
    before = uids(stack.kubeconfig)
    t0 = time.monotonic()
    run = stack.site(devpi_secrets_rotate=["devpi-oauth2-proxy-secret"])
    assert run.rc == 0, run.output[-3000:]
    assert run.action("devpi-oauth2-proxy-secret") == "rotated"
    assert restarted(run) == {("Deployment", "oauth2-proxy"): "restarted"}
    new = wait_one_ready(stack.kubeconfig, "oauth2-proxy", old=before["oauth2-proxy"][0])
    took("proof: rotate devpi-oauth2-proxy-secret -> oauth2-proxy restarted, Ready", t0)
    assert uids(stack.kubeconfig) == {**before, "oauth2-proxy": [new]}
    assert old.get(f"{BASE}/oauth2/auth").status == 401
    statuses = stack.login()[1]
    assert statuses == [302, 302, 200, 302, 302, 200, 202]


def test_6_rotating_the_basic_auth_password_reaches_the_front_door(stack, tmp_path):
    old_credentials = stack.client_credentials()
    before = uids(stack.kubeconfig)
    t0 = time.monotonic()
    run = stack.site(devpi_secrets_rotate=["devpi-basic-auth"])
    assert run.rc == 0, run.output[-3000:]
    assert run.action("devpi-basic-auth") == "rotated"
    assert restarted(run) == {("Deployment", "devpi-front-door"): "restarted"}
    new = wait_one_ready(stack.kubeconfig, "devpi-front-door", old=before["devpi-front-door"][0])
    took("proof: rotate devpi-basic-auth -> front door restarted, Ready", t0)
    assert uids(stack.kubeconfig) == {**before, "devpi-front-door": [new]}
    new_credentials = stack.client_credentials()
    assert new_credentials != old_credentials
    path = f"/{INDEX}/+simple/{PACKAGE}/"
    assert stack.door.request("GET", path, headers=basic(old_credentials))[0] == 401
    assert stack.door.request("GET", path, headers=basic(new_credentials))[0] == 200
    assert stack.door.pip(tmp_path / "old", old_credentials) != 0
    assert stack.door.pip(tmp_path / "new", new_credentials) == 0


def test_7_a_rerun_restarts_no_pod(stack):
    before, generation = uids(stack.kubeconfig), generations(stack.kubeconfig)
    t0 = time.monotonic()
    run = stack.site()
    took("re-run of site.yml", t0)
    assert run.rc == 0 and run.recap.get("changed") == 0, run.output[-3000:]
    assert restarted(run) == {}
    time.sleep(2)  # a restart would show as a new pod within this
    assert generations(stack.kubeconfig) == generation
    assert uids(stack.kubeconfig) == before


# --------------------------------------------------------------------------- item 5


def whole_volume_variant(kubeconfig) -> dict:
    """The reference devpi-server Deployment as applied, with only the devpi-secret mount changed to what users
    write first: the whole Secret volume (default mode 0644, folder 1777), no subPath, its own emptyDir serverdir."""
    ref = kubectl_json("-n", NS, "get", "deployment", "devpi-server", kubeconfig=kubeconfig)
    pod = ref["spec"]["template"]["spec"]
    whole = {"name": "devpi-secret", "secret": {"secretName": "devpi-secret"}}
    pod["volumes"] = [{"name": "data", "emptyDir": {}}, whole]
    (container,) = pod["containers"]  # its readiness probe kept: a container between crashes is not Ready
    for mount in container["volumeMounts"]:
        if mount["name"] == "devpi-secret":
            mount.pop("subPath")
            mount["mountPath"] = "/etc/devpi-secret"
    container["args"] = ["--secretfile=/etc/devpi-secret/secret" if a.startswith("--secretfile=") else a
                         for a in container["args"]]  # fmt: skip
    labels = {"app.kubernetes.io/name": BAD}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": BAD, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def test_8_a_whole_volume_mount_crash_loops_and_the_report_names_it(stack):
    t0 = time.monotonic()
    kubectl("apply", "-f", "-", kubeconfig=stack.kubeconfig, input=json.dumps(whole_volume_variant(stack.kubeconfig)))
    deadline = time.monotonic() + 180
    while True:
        pods = app_pods(stack.kubeconfig, BAD)
        statuses = [c for p in pods for c in p["status"].get("containerStatuses", []) if c["name"] == "devpi-server"]
        last = [
            (c.get("lastState", {}).get("terminated") or c.get("state", {}).get("terminated") or {}).get("exitCode")
            for c in statuses
        ]
        if statuses and statuses[0]["restartCount"] > 0 and last[0] not in (None, 0):
            break
        assert time.monotonic() < deadline, f"{BAD} did not crash-loop: {json.dumps(statuses)}"
        time.sleep(1)
    took("proof: whole-volume devpi-secret mount -> container exited non-zero and restarted", t0)
    (pod,) = pods
    assert not is_ready(pod) and statuses[0]["ready"] is False
    print(f"[pods] {BAD}: restartCount {statuses[0]['restartCount']}, exit code {last[0]}")

    before = uids(stack.kubeconfig)
    run = stack.site()
    assert run.rc == 0 and run.recap.get("changed") == 0, run.output[-3000:]
    found = {(w["kind"], w["name"], w["container"], w["secret"], w["problem"])
             for w in restart_report(run)["mount_warnings"]}  # fmt: skip
    print(f"[pods] mount warnings: {sorted(found)}")
    assert ("Deployment", BAD, "devpi-server", "devpi-secret", "no-subpath") in found
    assert ("Deployment", BAD, "devpi-server", "devpi-secret", "mode") in found  # 0644 by default
    assert {item[:2] for item in found} == {("Deployment", BAD)}  # the reference Deployment is not named
    assert restarted(run) == {} and uids(stack.kubeconfig) == before
