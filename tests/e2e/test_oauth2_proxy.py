"""devpi-oauth2-proxy-secret → oauth2-proxy: 20 of 20 generated values start it; the
seed's recipe is measured and reported; a full OIDC login proves all three keys."""

import base64
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e import secret_sources as src
from tests.e2e.drivers import oauth2_proxy as o2p

pytestmark = pytest.mark.e2e

RUNS = 20  # the issue asks for 20 of 20
SITE_PARALLEL = int(os.environ.get("E2E_SITE_PARALLEL", "4"))


def _start_all(values: list[tuple[bytes, bytes, bytes]], workdir) -> list[o2p.OAuth2ProxyRun]:
    with ThreadPoolExecutor(max_workers=5) as ex:
        return list(ex.map(lambda iv: o2p.try_oauth2_proxy(*iv[1], workdir / f"run-{iv[0]}"), enumerate(values)))


def _site_values(runner: src.SiteRunner) -> list[tuple[bytes, bytes, bytes]]:
    """site.yml into RUNS fresh namespaces (a few at a time); the oauth2-proxy Secret of each."""
    prefix = f"e2e-o2p-{secrets.token_hex(3)}"

    def one(i):
        ns = f"{prefix}-{i:02d}"
        runner.run(ns)
        _type, data = runner.read(ns, "devpi-oauth2-proxy-secret")
        return data["client-id"], data["client-secret"], data["cookie-secret"]

    with ThreadPoolExecutor(max_workers=SITE_PARALLEL) as ex:
        return list(ex.map(one, range(RUNS)))


SOURCES = [s for s in ("local", "site") if s in os.environ.get("E2E_SECRETS_SOURCES", "local,site").split(",")]


@pytest.mark.parametrize("source", SOURCES)
def test_oauth2_proxy_starts_with_every_generated_cookie_secret(source, request, oauth2_proxy_bin, tmp_path, report):
    t0 = time.monotonic()
    if source == "local":
        values = [(src.CLIENT_ID, secrets.token_urlsafe(24).encode(), src.local_cookie_secret()) for _i in range(RUNS)]
    else:
        values = _site_values(request.getfixturevalue("site_runner"))
    made = time.monotonic() - t0
    assert len({v[2] for v in values}) == RUNS, "cookie-secrets repeat across runs"
    t1 = time.monotonic()
    runs = _start_all(values, tmp_path)
    took = time.monotonic() - t1
    started = sum(r.started for r in runs)
    report(
        f"oauth2-proxy starts [{source}]",
        f"{started}/{RUNS} started and answered /ping 200 (values {made:.1f}s, start/ping/stop {took:.1f}s)",
    )
    failed = [(v[2].decode(), r.output) for v, r in zip(values, runs) if not r.started]
    assert started == RUNS, f"oauth2-proxy refused {len(failed)} generated values, first: {failed[:1]}"
    assert took < 120


def test_oauth2_proxy_refuses_the_seed_recipe_exactly_when_the_value_holds_plus_or_slash(
    oauth2_proxy_bin, tmp_path, report
):
    """The seed doc's base64.b64encode(os.urandom(32)): oauth2-proxy refuses precisely the values with '+' or '/'
    (FACTS: it decodes URL-safe base64 only). A rule, asserted; the count depends on the draw and is only reported."""
    seed = src.seed_recipe_cookie_secret
    values = [(src.CLIENT_ID, secrets.token_urlsafe(24).encode(), seed()) for _i in range(RUNS)]
    runs = _start_all(values, tmp_path)
    rejected = {v[2] for v, r in zip(values, runs) if not r.started}
    with_url_unsafe = {v[2] for v in values if set(v[2]) & set(b"+/")}
    reason = next((ln for r in runs if not r.started for ln in r.output.splitlines() if "cookie_secret" in ln), "")
    report(
        "oauth2-proxy vs seed recipe",
        f"{len(rejected)}/{RUNS} rejected, exactly the {len(with_url_unsafe)} values with '+' or '/'; {reason.strip()}",
    )
    assert rejected == with_url_unsafe
    assert with_url_unsafe, "no value of this draw held '+' or '/' (about 1 in 10^11): draw again"


def test_oauth2_proxy_full_login(secret_set, oauth2_proxy_bin, tmp_path, report):
    """OIDC code flow against a loopback stand-in provider (DummyOidc): quick, on every secret source. The login
    through a real Keycloak, behind nginx as the front door, is tests/e2e/test_front_door.py."""
    result = o2p.check_oauth2_proxy_login(
        secret_set.client_id, secret_set.client_secret, secret_set.cookie_secret, tmp_path
    )
    report(f"devpi-oauth2-proxy-secret → oauth2-proxy login [{secret_set.source}]", result)


def test_repaired_standard_base64_is_accepted(oauth2_proxy_bin, tmp_path):
    """FACTS: mapping + → - and / → _ keeps the bytes and makes oauth2-proxy accept it."""
    raw = os.urandom(32)
    while not set(base64.b64encode(raw)) & set(b"+/"):
        raw = os.urandom(32)
    std = base64.b64encode(raw)
    assert not o2p.try_oauth2_proxy(src.CLIENT_ID, b"x", std, tmp_path / "std").started
    fixed = std.replace(b"+", b"-").replace(b"/", b"_")
    assert base64.urlsafe_b64decode(fixed) == raw
    assert o2p.try_oauth2_proxy(src.CLIENT_ID, b"x", fixed, tmp_path / "fixed").started
