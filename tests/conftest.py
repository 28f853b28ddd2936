"""Fixtures shared by every test suite (keep generic; add suite-specific ones in subfolders).

Kubernetes: by default one real local control plane (tools/cluster.py: etcd +
kube-apiserver + namespace/serviceaccount controllers, no Docker) is started for
the session in a temporary state dir on free ports, and stopped at the end.
Set DEVPI_TEST_KUBECONFIG=/path/to/kubeconfig to use any other cluster (e.g. kind)
instead; nothing is started then.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import warnings
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
for p in (str(TESTS_DIR), str(REPO_ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

pytest_plugins = ["helpers.keycloak_fixture"]

from helpers.kube import cluster, delete_namespace, namespace_exists  # noqa: E402


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """The session's local ControlPlane, or None when DEVPI_TEST_KUBECONFIG is set."""
    if os.environ.get("DEVPI_TEST_KUBECONFIG"):
        yield None
        return
    cp = cluster.ControlPlane(tmp_path_factory.mktemp("controlplane"), die_with_parent=True)
    try:
        cp.up()
    except cluster.ControlPlaneError as e:
        cp.down()
        pytest.fail(f"could not start the local control plane: {e}", pytrace=False)
    yield cp
    cp.down()


@pytest.fixture(scope="session")
def kubeconfig(control_plane) -> str:
    """Path of an admin kubeconfig for the test cluster."""
    env = os.environ.get("DEVPI_TEST_KUBECONFIG")
    if env:
        if not Path(env).is_file():
            pytest.fail(f"DEVPI_TEST_KUBECONFIG={env} does not exist", pytrace=False)
        return env
    return str(control_plane.kubeconfig)


@pytest.fixture
def namespace(kubeconfig, request) -> str:
    """A unique namespace name (t-<test>-<random>). The test may create it or not;
    it is deleted at teardown if it exists (waiting, bounded, until it is gone)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    name = f"t-{base}-{secrets.token_hex(3)}"
    yield name
    if namespace_exists(name, kubeconfig=kubeconfig):
        if not delete_namespace(name, kubeconfig=kubeconfig, timeout=120):
            warnings.warn(f"namespace {name} still exists 120s after deletion", stacklevel=1)


@pytest.fixture
def restricted_kubeconfig(control_plane, tmp_path):
    """Factory: restricted_kubeconfig(user, groups=()) -> path of a kubeconfig for a
    client-cert identity CN=user, O=groups (no permissions unless RBAC grants them).
    Only with the local control plane (it needs the cluster's client CA key)."""
    if control_plane is None:
        pytest.skip(
            "restricted identities are minted with the local control plane's CA; "
            "DEVPI_TEST_KUBECONFIG points at another cluster"
        )

    def make(user: str, groups=()) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", user)
        return str(control_plane.mint_kubeconfig(user, list(groups), tmp_path / f"{safe}.kubeconfig"))

    return make


@pytest.fixture
def inputs(tmp_path):
    """Throwaway CA, a cert/key pair for pypi.theedgeworks.ai on disk, and a random client secret."""
    from helpers.site import make_inputs

    return make_inputs(tmp_path)
