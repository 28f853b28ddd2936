"""The plan: what each Secret must hold and which writes get it there, from the role's own table."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils.secret_plan import (
    CREATE_GUARD_UID,
    generated_values,
    htpasswd_content,
    secret_plan,
)

REPO = Path(__file__).resolve().parents[4]
TABLE = yaml.safe_load((REPO / "roles/devpi_secrets/vars/main.yml").read_text())["_devpi_secrets_table"]
ROWS = {row["name"]: row for row in TABLE}
BASE = {"app.kubernetes.io/part-of": "devpi"}
SUPPLIED = {
    "tls_cert": "CERT\n",
    "tls_key": "KEY\n",
    "oauth2_client_id": "theedgeworks",
    "oauth2_client_secret": "client-secret-value",
    "basic_auth_password": None,
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(data: dict, type_="Opaque", labels=None, rv="7"):
    return {
        "type": type_,
        "uid": "uid-" + rv,
        "resource_version": rv,
        "labels": dict(BASE if labels is None else labels),
        "data": {k: b64(v) for k, v in data.items()},
        "text": dict(data),
    }


def random_results(values: dict, flags: dict | None = None):
    """A random_b64 loop result: (secret, key) -> new value, or None when the current one was kept."""
    results = []
    for (name, key), value in values.items():
        row = ROWS[name]
        key_row = next(k for k in row["keys"] if k["key"] == key)
        result = {"item": [row, key_row], "changed": value is not None}
        if value is not None:
            result.update(value=value, generated=True)
        result.update((flags or {}).get((name, key), {}))
        results.append(result)
    return {"results": results}


NEW = {
    ("devpi-secret", "secret"): "S" * 44,
    ("devpi-oauth2-proxy-secret", "cookie-secret"): "C" * 44,
    ("devpi-basic-auth", "password"): "P" * 32,
}
HTPASSWD_NEW = {"users": [{"name": "pypi-user", "action": "created"}], "order": ["pypi-user"], "lines": {}}
HTPASSWD_NEW["lines"]["pypi-user"] = "pypi-user:$2y$05$" + "h" * 53


def plan(cluster, random=None, htpasswd=None, supplied=None, rotate=(), labels=None, with_diff=False):
    return secret_plan(
        TABLE,
        cluster,
        supplied or SUPPLIED,
        random if random is not None else random_results(NEW),
        htpasswd or HTPASSWD_NEW,
        labels or {},
        list(rotate),
        "devpi",
        base_labels=BASE,
        with_diff=with_diff,
    )


def empty_cluster(exists=False):
    return {"error": "", "namespace": {"exists": exists, "phase": "Active" if exists else ""}, "secrets": {}}


def filled_cluster():
    """The cluster after a first run with NEW (a re-run's input)."""
    cluster = empty_cluster(True)
    cluster["secrets"] = {
        "devpi-tls": secret({"tls.crt": "CERT\n", "tls.key": "KEY\n"}, "kubernetes.io/tls"),
        "devpi-secret": secret({"secret": "S" * 44}),
        "devpi-oauth2-proxy-secret": secret(
            {"client-id": "theedgeworks", "client-secret": "client-secret-value", "cookie-secret": "C" * 44}
        ),
        "devpi-basic-auth": secret({"auth": HTPASSWD_NEW["lines"]["pypi-user"] + "\n", "password": "P" * 32}),
    }
    return cluster


KEPT = {key: None for key in NEW}
HTPASSWD_KEPT = {"users": [{"name": "pypi-user", "action": "kept"}], "order": ["pypi-user"], "lines": {}}


def test_first_run_creates_the_namespace_then_every_secret_with_the_create_guard():
    result = plan(empty_cluster())
    assert [s["action"] for s in result["secrets"]] == ["created"] * 4
    kinds = [(w["kind"], w["metadata"]["name"]) for w in result["writes"]]
    assert kinds[0] == ("Namespace", "devpi") and len(kinds) == 5
    for write in result["writes"][1:]:
        assert write["metadata"]["uid"] == CREATE_GUARD_UID
        assert "resourceVersion" not in write["metadata"]
        assert None not in write["data"].values()
    basic = result["writes"][4]
    assert base64.b64decode(basic["data"]["password"]).decode() == "P" * 32
    assert base64.b64decode(basic["data"]["auth"]).decode() == HTPASSWD_NEW["lines"]["pypi-user"] + "\n"
    assert result["writes"][1]["type"] == "kubernetes.io/tls"


def test_rerun_with_everything_kept_writes_nothing():
    result = plan(filled_cluster(), random_results(KEPT), HTPASSWD_KEPT)
    assert [s["action"] for s in result["secrets"]] == ["kept"] * 4
    assert result["writes"] == [] and result["deletes"] == [] and result["warnings"] == []


def test_rotation_is_named_rotated_and_the_update_carries_the_resource_version():
    values = dict(KEPT)
    values[("devpi-secret", "secret")] = "R" * 44
    result = plan(filled_cluster(), random_results(values), HTPASSWD_KEPT, rotate=["devpi-secret"])
    actions = {s["name"]: s["action"] for s in result["secrets"]}
    assert actions == {
        "devpi-tls": "kept",
        "devpi-secret": "rotated",
        "devpi-oauth2-proxy-secret": "kept",
        "devpi-basic-auth": "kept",
    }
    (write,) = result["writes"]
    assert write["metadata"]["resourceVersion"] == "7" and "uid" not in write["metadata"]


def test_supplied_values_are_authoritative():
    supplied = dict(SUPPLIED, oauth2_client_secret="a new one")
    result = plan(filled_cluster(), random_results(KEPT), HTPASSWD_KEPT, supplied=supplied)
    (write,) = result["writes"]
    assert write["metadata"]["name"] == "devpi-oauth2-proxy-secret"
    assert base64.b64decode(write["data"]["client-secret"]).decode() == "a new one"
    assert result["secrets"][2]["action"] == "updated"


def test_a_given_password_removes_the_generated_one():
    supplied = dict(SUPPLIED, basic_auth_password="given")
    values = {k: v for k, v in KEPT.items() if k[1] != "password"}
    result = plan(filled_cluster(), random_results(values), HTPASSWD_KEPT, supplied=supplied)
    (write,) = result["writes"]
    assert write["metadata"]["name"] == "devpi-basic-auth" and write["data"]["password"] is None


def test_labels_only_difference_is_an_update_and_extra_keys_are_left_alone():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-secret"]["labels"] = {}
    cluster["secrets"]["devpi-tls"]["data"]["theirs"] = b64("x")
    result = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)
    assert [s["action"] for s in result["secrets"]] == ["kept", "updated", "kept", "kept"]


def test_wrong_type_is_replaced_delete_then_create():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-tls"]["type"] = "Opaque"
    result = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)
    assert result["secrets"][0]["action"] == "replaced"
    assert result["deletes"] == [{"name": "devpi-tls", "uid": "uid-7", "resource_version": "7"}]
    assert result["writes"][0]["metadata"]["uid"] == CREATE_GUARD_UID


def test_repaired_cookie_secret_is_named_and_warned_about():
    flags = {("devpi-oauth2-proxy-secret", "cookie-secret"): {"repaired": True, "generated": False}}
    values = dict(KEPT)
    values[("devpi-oauth2-proxy-secret", "cookie-secret")] = "D" * 44
    result = plan(filled_cluster(), random_results(values, flags), HTPASSWD_KEPT)
    assert result["secrets"][2]["action"] == "repaired"
    assert any("URL-safe" in w for w in result["warnings"])


def test_invalid_generated_value_regenerated_is_warned_about_with_its_effect():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-secret"] = secret({"secret": "too short"})
    values = dict(KEPT)
    values[("devpi-secret", "secret")] = "N" * 44
    result = plan(cluster, random_results(values), HTPASSWD_KEPT)
    assert result["secrets"][1]["action"] == "updated"
    assert result["warnings"] == [
        "the current value of devpi-secret/secret was not base64 of 32 bytes and was regenerated: devpi logins made "
        "before are no longer valid."
    ]


def test_report_holds_no_value_even_with_fingerprints():
    cluster = filled_cluster()
    values = dict(KEPT)
    values[("devpi-secret", "secret")] = "R" * 44
    supplied = dict(SUPPLIED, oauth2_client_secret="another-client-secret")
    result = plan(cluster, random_results(values), HTPASSWD_KEPT, supplied=supplied, with_diff=True)
    text = json.dumps(result["report"])
    for value in ("R" * 44, "S" * 44, "another-client-secret", "client-secret-value", "P" * 32):
        assert value not in text and b64(value) not in text
    assert set(result["report"][1]["changed_keys"]) == {"secret"}


def test_generated_values_prefers_the_new_value_and_skips_skipped_items():
    cluster = filled_cluster()
    results = random_results({("devpi-secret", "secret"): "N" * 44, ("devpi-basic-auth", "password"): None})
    results["results"].append(
        {"skipped": True, "item": [ROWS["devpi-basic-auth"], ROWS["devpi-basic-auth"]["keys"][1]]}
    )
    assert generated_values(results, cluster) == {
        "devpi-secret": {"secret": "N" * 44},
        "devpi-basic-auth": {"password": "P" * 32},
    }


@pytest.mark.parametrize(
    "current,expected",
    [
        ("alice:$2y$05$x\n\n", "alice:$2y$05$x\n\n"),  # all kept: byte for byte, even with htpasswd -n's blank line
        ("", "alice:h\n"),
    ],
)
def test_htpasswd_content(current, expected):
    action = "kept" if current else "created"
    result = {"users": [{"name": "alice", "action": action}], "order": ["alice"], "lines": {}}
    if action == "created":
        result["lines"] = {"alice": "alice:h"}
    assert htpasswd_content(result, current) == expected
