"""tools/cluster.py and the kube-controlplane binary, for real (no mocks).

Lifecycle tests use their own state dirs; API behaviour tests use the session
cluster (the `kubeconfig` fixture), which may also be an external one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from helpers.kube import REPO, cluster, delete_namespace, kubectl, kubectl_json, namespace_exists

CLUSTER_PY = str(REPO / "tools" / "cluster.py")
LOCAL = not os.environ.get("DEVPI_TEST_KUBECONFIG")


def cli(state_dir, *args, timeout=600, check=True):
    proc = subprocess.run(
        [sys.executable, CLUSTER_PY, "--state-dir", str(state_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cluster.py {' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


@pytest.fixture
def state_dir(tmp_path):
    d = tmp_path / "cluster"
    yield d
    # never leave a control plane behind, whatever the test did
    cluster.ControlPlane(d).down()


# --------------------------------------------------------------------------- lifecycle


def test_up_ready_idempotent_down(state_dir):
    kubeconfig = state_dir / "kubeconfig"
    seen = {}

    # watch the state dir while `up` runs: the kubeconfig may only appear once
    # the API server is ready
    def watch():
        cp = cluster.ControlPlane(state_dir)
        while not kubeconfig.exists():
            if (state_dir / "pid").exists():
                seen["pid_before_kubeconfig"] = True
            time.sleep(0.05)
        seen["healthy_when_kubeconfig_appeared"] = cp.healthy()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    up = cli(state_dir, "up")
    watcher.join(timeout=10)
    print(up.stdout)
    assert re.search(r"control plane ready in \d+\.\d+s", up.stdout)
    assert f"export KUBECONFIG={kubeconfig}" in up.stdout
    assert seen.get("pid_before_kubeconfig"), "the kubeconfig appeared before the process was even started?"
    assert seen.get("healthy_when_kubeconfig_appeared") is True

    names = kubectl("get", "ns", "-o", "name", kubeconfig=kubeconfig).stdout.split()
    assert "namespace/default" in names and "namespace/kube-system" in names
    assert oct(kubeconfig.stat().st_mode & 0o777) == oct(0o600)

    pid = int((state_dir / "pid").read_text())
    ports = json.loads((state_dir / "ports.json").read_text())
    assert cluster.port_open(ports["apiserver"])

    # a second `up` returns at once and keeps the same process
    t0 = time.monotonic()
    again = cli(state_dir, "up")
    assert time.monotonic() - t0 < 10
    assert "already running" in again.stdout
    assert int((state_dir / "pid").read_text()) == pid

    st = cli(state_dir, "status")
    assert json.loads(st.stdout)["ready"] is True

    down = cli(state_dir, "down")
    assert "stopped" in down.stdout
    assert not cluster.pid_alive(pid)
    for port in ports.values():
        assert not cluster.port_open(port), f"port {port} still answers after down"
    assert not state_dir.exists()

    # nothing running: no error
    assert "not running" in cli(state_dir, "down").stdout
    assert cli(state_dir, "status", check=False).returncode == 3


def test_bad_flag_is_reported_with_log_tail(state_dir):
    cp = cluster.ControlPlane(state_dir, extra_apiserver_args=["--no-such-flag=1"], log=lambda m: None)
    t0 = time.monotonic()
    with pytest.raises(cluster.ControlPlaneError) as exc:
        cp.up()
    assert time.monotonic() - t0 < 60
    msg = str(exc.value)
    assert "exited during startup" in msg
    assert "unknown flag: --no-such-flag" in msg  # from the log tail
    assert not (state_dir / "kubeconfig").exists()
    assert cp.pid() is None


def test_bad_flag_cli_exits_nonzero(state_dir):
    env = {**os.environ, "DEVPI_CONTROLPLANE_EXTRA_ARGS": "--authorization-mode=NoSuchMode"}
    proc = subprocess.run(
        [sys.executable, CLUSTER_PY, "--state-dir", str(state_dir), "up"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 1
    assert "exited during startup" in proc.stderr
    assert "NoSuchMode" in proc.stderr


def test_killed_control_plane_is_detected_and_restarted(state_dir):
    cp = cluster.ControlPlane(state_dir, log=lambda m: None).up()
    pid, port = cp.pid(), cp.ports()["apiserver"]
    os.kill(pid, signal.SIGKILL)
    # Usually gone in 0.1 s; a thread in uninterruptible disk sleep (etcd's fsync on a busy CI disk) delays the exit
    # until its I/O is done: seen taking over 10 s once in CI. The claim here is detection once it is gone.
    deadline = time.monotonic() + 120
    while cluster.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.pid_alive(pid), f"pid {pid} still runs 120 s after SIGKILL"
    assert cp.pid() is None
    st = cp.status()
    assert st["running"] is False and st["ready"] is False
    deadline = time.monotonic() + 5
    while cluster.port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.port_open(port)
    assert cli(state_dir, "status", check=False).returncode == 3

    # `up` notices the dead process, starts afresh and reports its ready time
    cp.up()
    assert cp.pid() not in (None, pid)
    assert cp.last_ready_seconds is not None
    print(f"warm start-to-ready: {cp.last_ready_seconds:.1f}s")
    assert cp.last_ready_seconds < 20, "warm start-to-ready must stay under 20 s"
    assert namespace_exists("default", kubeconfig=cp.kubeconfig)


# --------------------------------------------------------------------------- API behaviour


def test_server_version(kubeconfig):
    v = json.loads(kubectl("version", "-o", "json", kubeconfig=kubeconfig).stdout)["serverVersion"]
    print(v)
    if LOCAL:
        assert v["gitVersion"].startswith("v1.36."), v
        assert v["major"] == "1" and v["minor"] == "36"
    assert v["gitVersion"] != "v0.0.0-master"


def test_rbac_is_enforced(kubeconfig):
    proc = kubectl("auth", "can-i", "create", "secrets", "--as=nobody", kubeconfig=kubeconfig, check=False)
    assert proc.stdout.strip() == "no"
    assert proc.returncode == 1
    assert kubectl("auth", "can-i", "create", "secrets", kubeconfig=kubeconfig).stdout.strip() == "yes"


def test_namespace_with_secret_is_deleted_completely(kubeconfig, namespace):
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    kubectl("-n", namespace, "create", "secret", "generic", "s1", "--from-literal=k=v", kubeconfig=kubeconfig)
    kubectl("-n", namespace, "create", "configmap", "c1", "--from-literal=k=v", kubeconfig=kubeconfig)
    t0 = time.monotonic()
    assert delete_namespace(namespace, kubeconfig=kubeconfig, timeout=90), (
        f"namespace {namespace} not gone within 90 s (namespace controller running?)"
    )
    print(f"namespace deleted in {time.monotonic() - t0:.1f}s")


@pytest.mark.skipif(not LOCAL, reason="checks the in-process controllers of the local control plane")
def test_new_namespace_gets_default_serviceaccount_and_root_ca(kubeconfig, namespace):
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sa = kubectl(
            "-n",
            namespace,
            "get",
            "serviceaccount",
            "default",
            "--ignore-not-found",
            "-o",
            "name",
            kubeconfig=kubeconfig,
        ).stdout.strip()
        cm = kubectl(
            "-n",
            namespace,
            "get",
            "configmap",
            "kube-root-ca.crt",
            "--ignore-not-found",
            "-o",
            "name",
            kubeconfig=kubeconfig,
        ).stdout.strip()
        if sa and cm:
            break
        time.sleep(0.3)
    assert sa == "serviceaccount/default"
    assert cm == "configmap/kube-root-ca.crt"


def test_restricted_identity_is_forbidden_by_default(kubeconfig, namespace, restricted_kubeconfig):
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    kubectl("-n", namespace, "create", "secret", "generic", "s1", "--from-literal=k=v", kubeconfig=kubeconfig)
    alice = restricted_kubeconfig("alice", ["devpi-testers"])

    who = kubectl("auth", "whoami", "-o", "json", kubeconfig=alice, check=False)
    if who.returncode == 0:  # SelfSubjectReview: always allowed
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == "alice" and "devpi-testers" in info["groups"]

    denied = kubectl("-n", namespace, "get", "secret", "s1", kubeconfig=alice, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr
    assert (
        kubectl("-n", namespace, "auth", "can-i", "create", "secrets", kubeconfig=alice, check=False).stdout.strip()
        == "no"
    )

    # least privilege can be granted precisely: get on that one Secret only
    kubectl(
        "-n",
        namespace,
        "create",
        "role",
        "read-s1",
        "--verb=get",
        "--resource=secrets",
        "--resource-name=s1",
        kubeconfig=kubeconfig,
    )
    kubectl(
        "-n",
        namespace,
        "create",
        "rolebinding",
        "read-s1",
        "--role=read-s1",
        "--group=devpi-testers",
        kubeconfig=kubeconfig,
    )
    deadline = time.monotonic() + 10
    while kubectl("-n", namespace, "get", "secret", "s1", kubeconfig=alice, check=False).returncode != 0:
        assert time.monotonic() < deadline, "RoleBinding did not take effect"
        time.sleep(0.2)
    assert kubectl("-n", namespace, "get", "secrets", kubeconfig=alice, check=False).returncode != 0  # no list
    assert (
        kubectl("-n", namespace, "auth", "can-i", "delete", "secret/s1", kubeconfig=alice, check=False).stdout.strip()
        == "no"
    )


def test_secret_metadata_uid_behaviour(kubeconfig, namespace):
    """Documents how the API server treats metadata.uid in Secret writes."""
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    given = str(uuid.uuid4())
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "with-uid", "namespace": namespace, "uid": given},
        "stringData": {"k": "v"},
    }
    # create: a client-supplied uid is silently replaced by a server-generated one
    kubectl("create", "-f", "-", kubeconfig=kubeconfig, input=json.dumps(secret))
    actual = kubectl_json("-n", namespace, "get", "secret", "with-uid", kubeconfig=kubeconfig)["metadata"]["uid"]
    assert actual != given

    # merge patch that changes uid: 422 Invalid, "metadata.uid: ... field is immutable"
    patch = kubectl(
        "-n",
        namespace,
        "patch",
        "secret",
        "with-uid",
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"uid": str(uuid.uuid4())}}),
        kubeconfig=kubeconfig,
        check=False,
    )
    assert patch.returncode != 0
    assert "metadata.uid" in patch.stderr and "field is immutable" in patch.stderr, patch.stderr

    # PUT (replace) with another uid: the uid is a precondition -> 409 Conflict
    obj = kubectl_json("-n", namespace, "get", "secret", "with-uid", kubeconfig=kubeconfig)
    obj["metadata"]["uid"] = str(uuid.uuid4())
    put = kubectl("replace", "-f", "-", kubeconfig=kubeconfig, input=json.dumps(obj), check=False)
    assert put.returncode != 0
    assert "Conflict" in put.stderr and "Precondition failed" in put.stderr, put.stderr
    # patch with the current uid: fine (a safe "update only this very object")
    same = kubectl(
        "-n",
        namespace,
        "patch",
        "secret",
        "with-uid",
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"uid": actual, "labels": {"a": "b"}}}),
        kubeconfig=kubeconfig,
    )
    assert same.returncode == 0
