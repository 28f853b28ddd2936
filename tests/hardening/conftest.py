"""Fixtures of the hardening suite (module-scoped namespaces for batched runs)."""

from __future__ import annotations

import secrets
import warnings

import pytest

from helpers.kube import delete_namespace, kubectl, namespace_exists


@pytest.fixture(scope="module")
def module_namespaces(kubeconfig):
    """Factory for namespace names that live as long as the module; removed (finalizers too) at the end."""
    names: list[str] = []

    def make(prefix: str) -> str:
        name = f"t-{prefix}-{secrets.token_hex(3)}"
        names.append(name)
        return name

    yield make
    existing = [n for n in names if namespace_exists(n, kubeconfig=kubeconfig)]
    if existing:  # one request for all of them, then wait for each (deleting one by one takes a minute)
        kubectl("delete", "namespace", *existing, "--ignore-not-found", "--wait=false", kubeconfig=kubeconfig)
    for name in existing:
        if not delete_namespace(name, kubeconfig=kubeconfig, timeout=120):
            warnings.warn(f"namespace {name} still exists 120s after deletion", stacklevel=1)
