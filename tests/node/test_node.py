"""The local cluster's node (tools/cluster.py `up --node`, tools/node.py), for real: containerd, kubelet,
kube-controller-manager, kube-scheduler and kube-proxy on this host, pods from the images of tools/images.py.

One node per host, so the module shares one cluster in its own state dir; the tests run in file order and
the last one stops it and compares the host with what it was before the first. Needs root and cgroup v1
(CI runs as root here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from helpers.kube import REPO, cluster, kubectl, kubectl_json
from helpers.tools import images, node

CLUSTER_PY = str(REPO / "tools" / "cluster.py")

pytestmark = pytest.mark.skipif(
    bool(node.host_problems()), reason="; ".join(node.host_problems()) or "node needs root and cgroup v1"
)


def ours(state_dir) -> list[int]:
    """Processes of this node: started with a path in its state dir, or containerd's shims and the pods."""
    mine = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/cgroup") as fh:
                cgroups = fh.read()
        except OSError:
            continue
        if str(state_dir) in cmd or f"/{node.CGROUP_NAME}" in cgroups:
            mine.append(int(pid))
    return mine


def footprint(state_dir) -> dict:
    snap = node.host_snapshot()
    roots = (str(state_dir), "/run/containerd", "/run/netns", "/var/lib/kubelet")
    snap["mounts"] = [m for m in snap["mounts"] if m.startswith(roots)]
    snap["processes"] = ours(state_dir)
    return snap


@pytest.fixture(scope="module")
def host_before(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("node") / "cluster"
    return state_dir, footprint(state_dir)


@pytest.fixture(scope="module")
def cp(host_before):
    state_dir = host_before[0]
    images.ensure(["pause", "nginx"], log=lambda m: None)
    t0 = time.monotonic()
    c = cluster.ControlPlane(state_dir, node=True, die_with_parent=True, log=print).up()
    print(f"cluster-up with a node: {time.monotonic() - t0:.1f}s (node Ready {c.node.last_ready_seconds:.1f}s)")
    yield c
    c.down()


def cli(state_dir, *args, timeout=300):
    return subprocess.run(
        [sys.executable, CLUSTER_PY, "--state-dir", str(state_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_pod(kubeconfig, ns, name, phases=("Running",), timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        pod = kubectl_json("-n", ns, "get", "pod", name, kubeconfig=kubeconfig)
        phase = pod["status"].get("phase")
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
        if phase in phases and (phase != "Running" or ready):
            return pod
        assert time.monotonic() < deadline, f"pod {name} not {phases} after {timeout}s: {json.dumps(pod['status'])}"
        time.sleep(0.3)


@pytest.fixture
def ns(cp):
    name = f"node-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name, kubeconfig=cp.kubeconfig)
    # pods need the namespace's default ServiceAccount (made by the control plane's controller)
    deadline = time.monotonic() + 30
    while kubectl("-n", name, "get", "sa", "default", kubeconfig=cp.kubeconfig, check=False).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", kubeconfig=cp.kubeconfig, check=False)


def test_node_is_ready_and_schedulable(cp):
    nodes = kubectl_json("get", "nodes", kubeconfig=cp.kubeconfig)["items"]
    assert [n["metadata"]["name"] for n in nodes] == [cp.node.info()["name"]]
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert not [t for t in nodes[0]["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
    addresses = {a["type"]: a["address"] for a in nodes[0]["status"]["addresses"]}
    assert not addresses["InternalIP"].startswith("127.")
    st = json.loads(cli(cp.state_dir, "status").stdout)
    assert st["ready"] is True and st["node"]["dead"] == []


def test_pod_from_a_local_image_serves_through_a_service(cp, ns):
    """nginx from localhost/devpi/nginx (imported, never pulled) runs to Ready; its ClusterIP Service answers
    from the host (kube-proxy's rules), and so does the pod's own IP (the CNI bridge)."""
    t0 = time.monotonic()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "image": images.NGINX,
                    "imagePullPolicy": "Never",
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
                }
            ]
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": 80}]},
    }
    kubectl(
        "apply",
        "-f",
        "-",
        kubeconfig=cp.kubeconfig,
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": [pod, svc]}),
    )
    running = wait_pod(cp.kubeconfig, ns, "web")
    print(f"pod Ready {time.monotonic() - t0:.1f}s after creation")
    cluster_ip = kubectl_json("-n", ns, "get", "svc", "web", kubeconfig=cp.kubeconfig)["spec"]["clusterIP"]
    pod_ip = running["status"]["podIP"]
    for url in (f"http://{pod_ip}:80/", f"http://{cluster_ip}:8080/"):
        deadline = time.monotonic() + 30
        while True:
            code = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if code == "200" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert code == "200", f"{url} answered {code!r}"

    # from a pod, by the Service's name (cluster DNS: CoreDNS; search path <ns>.svc.cluster.local)
    client = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client", "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": images.NGINX,
                    "imagePullPolicy": "Never",
                    # exits 0 only on an HTTP 200 from http://web:8080/ (bash resolves the name, connects)
                    "command": [
                        "bash",
                        "-c",
                        "exec 3<>/dev/tcp/web/8080 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && "
                        "head -1 <&3 | grep -q ' 200 '",
                    ],
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", kubeconfig=cp.kubeconfig, input=json.dumps(client))
    assert wait_pod(cp.kubeconfig, ns, "client", phases=("Succeeded", "Failed"))["status"]["phase"] == "Succeeded"


def _secret_pod(name: str, volume: dict, mount: dict) -> dict:
    # exits 0 only when the file is 0400 and its folder not group- or world-writable: what devpi-server demands
    check = (
        'f=/etc/devpi/secret; m=$(stat -c %a "$f"); d=$(stat -c %a "$(dirname "$f")"); '
        'echo "file $m dir $d"; [ "$m" = 400 ] && [ $(( 0$d & 022 )) -eq 0 ]'
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "check",
                    "image": images.NGINX,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c", check],
                    "volumeMounts": [mount],
                }
            ],
            "volumes": [volume],
        },
    }


def test_secret_by_subpath_with_mode_0400_is_what_devpi_accepts(cp, ns):
    """A Secret key mounted by subPath with defaultMode 0400 is a 0400 file in a folder without group or world
    write (pod Succeeded); the whole volume is 0644 in a 1777-style folder (pod Failed) -- the node's kubelet
    behaves as the FACTS say."""
    kubectl(
        "-n",
        ns,
        "create",
        "secret",
        "generic",
        "devpi-secret",
        "--from-literal=secret=" + "x" * 44,
        kubeconfig=cp.kubeconfig,
    )
    by_subpath = _secret_pod(
        "subpath",
        {"name": "s", "secret": {"secretName": "devpi-secret", "defaultMode": 0o400}},
        {"name": "s", "mountPath": "/etc/devpi/secret", "subPath": "secret", "readOnly": True},
    )
    whole = _secret_pod(
        "whole",
        {"name": "s", "secret": {"secretName": "devpi-secret"}},
        {"name": "s", "mountPath": "/etc/devpi", "readOnly": True},
    )
    for pod in (by_subpath, whole):
        kubectl("-n", ns, "apply", "-f", "-", kubeconfig=cp.kubeconfig, input=json.dumps(pod))
    assert wait_pod(cp.kubeconfig, ns, "subpath", phases=("Succeeded", "Failed"))["status"]["phase"] == "Succeeded"
    assert wait_pod(cp.kubeconfig, ns, "whole", phases=("Succeeded", "Failed"))["status"]["phase"] == "Failed"


def test_devpi_and_oauth2_proxy_images_run(cp, ns):
    """The devpi-server image serves /+api (devpi-init, then devpi-server: readiness probe on it); the
    oauth2-proxy image's binary runs (--version exits 0: pod Succeeded)."""
    devpi = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "devpi"},
        "spec": {
            "containers": [
                {
                    "name": "devpi",
                    "image": images.DEVPI,
                    "imagePullPolicy": "Never",
                    "command": [
                        "sh",
                        "-c",
                        "devpi-init --serverdir /srv/devpi && exec devpi-server --serverdir /srv/devpi --host 0.0.0.0",
                    ],
                    "readinessProbe": {"httpGet": {"path": "/+api", "port": 3141}, "periodSeconds": 1},
                }
            ]
        },
    }
    proxy = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "oauth2-proxy"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "p", "image": images.OAUTH2_PROXY, "imagePullPolicy": "Never", "args": ["--version"]}
            ],
        },
    }
    images.ensure(["devpi-server", "oauth2-proxy"], log=lambda m: None)
    assert cli(cp.state_dir, "up", "--node").returncode == 0  # imports what was made after the node started
    for pod in (devpi, proxy):
        kubectl("-n", ns, "apply", "-f", "-", kubeconfig=cp.kubeconfig, input=json.dumps(pod))
    t0 = time.monotonic()
    wait_pod(cp.kubeconfig, ns, "devpi")
    print(f"devpi-server pod Ready {time.monotonic() - t0:.1f}s after creation")
    assert wait_pod(cp.kubeconfig, ns, "oauth2-proxy", phases=("Succeeded", "Failed"))["status"]["phase"] == "Succeeded"


@pytest.mark.parametrize("component", ["kubelet", "containerd"])
def test_killed_component_is_reported_and_up_restarts_it(cp, component):
    pid = cp.node.pid(component)
    assert pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while cluster.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = cli(cp.state_dir, "status")
    assert status.returncode == 1, status.stdout + status.stderr  # running, not ready
    assert json.loads(status.stdout)["node"]["dead"] == [component]
    up = cli(cp.state_dir, "up", "--node")
    assert up.returncode == 0, up.stdout + up.stderr
    assert cli(cp.state_dir, "status").returncode == 0
    assert cp.node.pid(component) not in (None, pid)


def test_down_leaves_the_host_as_found(cp, host_before, ns):
    """With a pod running (a veth on cni0, its volumes and rootfs mounted, its processes in the node's cgroups),
    `down` leaves processes, interfaces, mounts, cgroups, iptables rules, sysctls and host folders as before `up`."""
    state_dir, before = host_before
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "left", "namespace": ns},
        "spec": {"containers": [{"name": "nginx", "image": images.NGINX, "imagePullPolicy": "Never"}]},
    }
    kubectl("apply", "-f", "-", kubeconfig=cp.kubeconfig, input=json.dumps(pod))
    wait_pod(cp.kubeconfig, ns, "left")
    rss = node.node_rss_kib()
    print("node RSS (MiB): " + ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(rss.items())))
    during = footprint(state_dir)
    # the comparison below is not vacuous
    assert "cni0" in during["links"] and any(link.startswith("veth") for link in during["links"])
    assert during["processes"] and during["mounts"] and during["cgroups"] and during["iptables"]["iptables"]
    t0 = time.monotonic()
    down = cli(state_dir, "down")
    print(f"cluster-down with a node: {time.monotonic() - t0:.1f}s")
    assert down.returncode == 0, down.stdout + down.stderr
    after = footprint(state_dir)
    for key in ("processes", "links", "mounts", "cgroups", "iptables", "sysctls", "host_paths"):
        assert after[key] == before[key], f"{key}: before {before[key]!r}, after down {after[key]!r}"
    assert not state_dir.exists()


def test_node_is_refused_on_a_control_plane_started_without_its_flags(tmp_path):
    """`up --node` on a running API-only control plane fails (exit 1) and starts nothing: its API server lacks the
    Node authorizer and the kubelet client certificate."""
    state_dir = tmp_path / "cluster"
    try:
        assert cli(state_dir, "up").returncode == 0
        refused = cli(state_dir, "up", "--node")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        # refused before anything started: a failed start would leave its logs in node-logs
        assert not (state_dir / "node").exists() and not (state_dir / "node-logs").exists()
        assert cli(state_dir, "status").returncode == 0  # the control plane still runs, ready
    finally:
        cli(state_dir, "down")
