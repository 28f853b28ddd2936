"""Fixtures for the end-to-end tests with the real consumers of the devpi Secrets.

Secret sources (``E2E_SECRETS_SOURCES``, default ``local,site``):
  local  values made here in the contract's formats (no cluster needed)
  site   site.yml run against the test control plane (``kubeconfig`` fixture from
         tests/conftest.py), Secrets read back with kubectl

A missing consumer binary, a missing site.yml or a missing control plane fails the test
with the reason; nothing is skipped silently.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for _p in (str(REPO / "tests"), str(REPO)):  # as tests/conftest.py does: `helpers.*` and `tests.e2e.*`
    if _p not in sys.path:
        sys.path.insert(0, _p)

from helpers.tools import install_consumers as installed  # noqa: E402
from tests.e2e import secret_sources as src  # noqa: E402

SOURCES = [s.strip() for s in os.environ.get("E2E_SECRETS_SOURCES", "local,site").split(",") if s.strip()]
REPORT: list[tuple[str, object]] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end with real consumers")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    tr = terminalreporter
    tr.section("e2e consumer report")
    for name, value in REPORT:
        if isinstance(value, dict):
            tr.write_line(f"{name}:")
            for k, v in value.items():
                tr.write_line(f"    {k}: {v}")
        else:
            tr.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def report():
    """report(name, value): shown in the 'e2e consumer report' section at the end of the run."""

    def add(name, value):
        REPORT.append((name, value))
        print(f"[e2e] {name}: {value}")

    return add


def _require(fn, *args):
    try:
        return fn(*args)
    except installed.ConsumerMissing as e:
        pytest.fail(f"consumer not available: {e}", pytrace=False)


@pytest.fixture(scope="session")
def consumer_versions(report):
    v = installed.versions()
    report("consumer versions", v)
    return v


@pytest.fixture(scope="session")
def devpi_bins(consumer_versions):
    return {
        n: _require(installed.devpi_bin, n)
        for n in ("devpi-server", "devpi-init", "devpi-gen-secret", "devpi", "python")
    }


@pytest.fixture(scope="session")
def nginx_bin(consumer_versions):
    _require(installed.htpasswd_binary)
    return _require(installed.nginx_binary)


@pytest.fixture(scope="session")
def oauth2_proxy_bin(consumer_versions):
    return _require(installed.oauth2_proxy_binary)


@pytest.fixture(scope="session")
def site_runner(request, tmp_path_factory):
    """A SiteRunner on the session's control plane; its namespaces are deleted at the end."""
    try:
        kubeconfig = request.getfixturevalue("kubeconfig")
    except pytest.FixtureLookupError:
        pytest.fail(
            "the 'site' source needs the session fixture 'kubeconfig' (tests/conftest.py + "
            "tools/cluster.py); run with E2E_SECRETS_SOURCES=local to use local values only",
            pytrace=False,
        )
    try:
        runner = src.SiteRunner(kubeconfig, tmp_path_factory.mktemp("site", numbered=True))
    except src.SiteError as e:
        pytest.fail(str(e), pytrace=False)
    yield runner
    runner.cleanup()


@pytest.fixture(scope="session")
def site_secret_set(site_runner, report):
    """site.yml once into a fresh namespace; the Secrets as a SecretSet."""
    ns = f"e2e-consumers-{secrets.token_hex(4)}"
    took = site_runner.run(ns)
    report("site.yml first run", f"{took:.1f}s (namespace {ns})")
    s = site_runner.secret_set(ns)
    assert s.client_secret.decode() == site_runner.client_secret_for(ns), "client-secret is not the supplied value"
    assert s.client_id == src.CLIENT_ID, f"client-id {s.client_id!r}"
    return s


@pytest.fixture(params=SOURCES)
def secret_set(request) -> src.SecretSet:
    """The four Secrets' data, from each configured source in turn."""
    if request.param == "local":
        s = src.local_secret_set()
    elif request.param == "site":
        s = request.getfixturevalue("site_secret_set")
    else:
        pytest.fail(f"unknown secrets source {request.param!r}")
    src.check_contract(s)
    return s


@pytest.fixture
def runner_for(request):
    """The SiteRunner when the SecretSet came from site.yml, else None."""

    def get(s: src.SecretSet):
        return request.getfixturevalue("site_runner") if s.source == "site" else None

    return get
