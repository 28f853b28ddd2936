"""The encrypted copy in the decide step (plugin_utils/_plan.py, _secret_plan.copy_plan): restore what the cluster
lacks, the cluster wins where both hold a value, the copy follows creations and rotations; and the copy's manifests
(plugin_utils/_backup.py)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
import yaml
from test_plan_step import INPUTS, _as_read
from test_secret_plan import BASE, CLIENT, SUPPLIED, TABLE, empty_cluster

from ansible_collections.theedgeworks.devpi.plugins.module_utils import htpasswd
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages, _backup
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import CREATE_GUARD_UID
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._version import COLLECTION_VERSION as VERSION

_plan = None
GENERATED = (("devpi-secret", "secret"), ("devpi-oauth2-proxy-secret", "cookie-secret"), (CLIENT, "password"))


@pytest.fixture(autouse=True)
def _plan_module():
    global _plan
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    _plan = module


def texts(result):
    return {(s["name"], k): base64.b64decode(v).decode() for s in result["secrets"] for k, v in s["data"].items() if v}


def as_copy(result, exists=True):
    """The copy as backup_read would return it after the plan's copy was written (the values and their stamps)."""
    backup = result["backup"]
    return {"enabled": True, "exists": exists, "values": backup["values"], "stamps": backup["stamps"], "error": ""}


def first_run():
    return _plan.plan(
        TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, copy={"enabled": True, "exists": False, "values": {}}
    )


def test_without_a_copy_the_plan_says_off():
    result = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE)
    assert result["backup"] == {"action": "off", "changes": [], "values": {}, "types": {}}
    off = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, copy={"enabled": False, "values": {}})
    assert off["backup"]["action"] == "off"


def test_the_first_copy_holds_every_generated_value_and_nothing_supplied():
    first = first_run()
    copy = first["backup"]
    assert copy["action"] == "written"
    made = texts(first)
    assert {(s, k) for s, keys in copy["values"].items() for k in keys} == {*GENERATED, ("devpi-basic-auth", "auth")}
    for secret, key in GENERATED:
        assert copy["values"][secret][key] == made[(secret, key)]
    assert {c["why"] for c in copy["changes"]} == {"new"}
    held = [v for keys in copy["values"].values() for v in keys.values()]
    assert not any(value in held for value in SUPPLIED.values())


def test_a_lost_cluster_is_rebuilt_from_the_copy_byte_for_byte():
    first = first_run()
    rebuilt = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, copy=as_copy(first))
    assert rebuilt["problems"] == []
    assert texts(rebuilt) == texts(first)  # the htpasswd line too: the same salt, no new hash
    actions = {s["name"]: s["action"] for s in rebuilt["secrets"]}
    assert actions == {
        "devpi-tls": "created",
        "devpi-secret": "restored",
        "devpi-oauth2-proxy-secret": "restored",
        "devpi-basic-auth": "restored",
        CLIENT: "restored",
    }
    assert rebuilt["backup"]["action"] == "unchanged" and rebuilt["backup"]["changes"] == []
    # restored Secrets are created as any other: with the create guard, and without the keys that must not be there
    for write in rebuilt["writes"][1:]:
        assert write["metadata"]["uid"] == CREATE_GUARD_UID and "resourceVersion" not in write["metadata"]
        assert None not in write["data"].values()
    line = texts(rebuilt)[("devpi-basic-auth", "auth")].strip()
    assert htpasswd.verify(texts(rebuilt)[(CLIENT, "password")], line.split(":", 1)[1])


def test_one_lost_secret_is_restored_and_the_others_kept():
    first = first_run()
    cluster = _as_read(first)
    del cluster["secrets"]["devpi-secret"]
    again = _plan.plan(TABLE, cluster, SUPPLIED, INPUTS, [], BASE, copy=as_copy(first))
    actions = {s["name"]: s["action"] for s in again["secrets"]}
    assert actions["devpi-secret"] == "restored" and actions["devpi-basic-auth"] == "kept"
    assert [w["metadata"]["name"] for w in again["writes"]] == ["devpi-secret"]
    assert texts(again) == texts(first)


def test_the_cluster_wins_and_the_copy_follows():
    first = first_run()
    cluster = _as_read(first)
    other = base64.b64encode(b"x" * 32).decode()
    cluster["secrets"]["devpi-secret"]["text"]["secret"] = other
    cluster["secrets"]["devpi-secret"]["data"]["secret"] = base64.b64encode(other.encode()).decode()
    again = _plan.plan(TABLE, cluster, SUPPLIED, INPUTS, [], BASE, copy=as_copy(first))
    assert again["changes"] is False
    assert again["backup"]["action"] == "updated"
    assert again["backup"]["changes"] == [{"secret": "devpi-secret", "key": "secret", "why": "cluster"}]
    assert again["backup"]["values"]["devpi-secret"]["secret"] == other


def test_a_rotation_updates_the_copy():
    first = first_run()
    rotated = _plan.plan(TABLE, _as_read(first), SUPPLIED, INPUTS, ["devpi-basic-auth"], BASE, copy=as_copy(first))
    assert rotated["backup"]["action"] == "updated"
    assert {(c["secret"], c["key"], c["why"]) for c in rotated["backup"]["changes"]} == {
        ("devpi-basic-auth", "auth", "rotated"),
        (CLIENT, "password", "rotated"),
    }
    assert rotated["backup"]["values"][CLIENT]["password"] == texts(rotated)[(CLIENT, "password")]
    # a rotation of a Secret the cluster lacks draws anew: nothing is restored
    lost = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, ["devpi-secret"], BASE, copy=as_copy(first))
    assert {s["name"]: s["action"] for s in lost["secrets"]}["devpi-secret"] == "created"
    assert texts(lost)[("devpi-secret", "secret")] != texts(first)[("devpi-secret", "secret")]


def test_a_rerun_with_the_copy_changes_nothing():
    first = first_run()
    again = _plan.plan(TABLE, _as_read(first), SUPPLIED, INPUTS, [], BASE, copy=as_copy(first))
    assert again["changes"] is False and again["backup"]["action"] == "unchanged"


def test_a_given_password_keeps_neither_its_hash_nor_drops_an_earlier_generated_one():
    given = dict(SUPPLIED, basic_auth_password="a-given-password-123")
    first = _plan.plan(
        TABLE, empty_cluster(), given, INPUTS, [], BASE, copy={"enabled": True, "exists": False, "values": {}}
    )
    assert set(first["backup"]["values"]) == {"devpi-secret", "devpi-oauth2-proxy-secret"}
    # a copy made while the password was generated keeps it for the client Secret no longer managed
    generated = first_run()
    later = _plan.plan(TABLE, _as_read(generated), given, INPUTS, [], BASE, copy=as_copy(generated))
    assert later["backup"]["values"][CLIENT] == generated["backup"]["values"][CLIENT]
    # the hash of the given password is not kept: the copy drops the earlier line
    assert "devpi-basic-auth" not in later["backup"]["values"] and later["backup"]["action"] == "updated"


def test_manifests_round_trip_and_carry_the_flux_annotation():
    first = first_run()
    docs = _backup.manifests(first["backup"]["values"], first["backup"]["types"], "devpi", BASE)
    assert [d["metadata"]["name"] for d in docs] == [
        "devpi-secret",
        "devpi-oauth2-proxy-secret",
        "devpi-basic-auth",
        CLIENT,
    ]
    for doc in docs:
        assert doc["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
        assert set(doc) == {"apiVersion", "kind", "type", "metadata", "stringData"}
    text = yaml.safe_dump_all(docs)
    assert _backup.values_of(text) == first["backup"]["values"]


@pytest.mark.parametrize(
    "text",
    ["a: [", "kind: ConfigMap\nmetadata: {name: x}\nstringData: {a: b}\n", "kind: Secret\nmetadata: {name: x}\n"],
)
def test_a_decrypted_file_that_is_no_copy_is_refused_without_its_content(text):
    with pytest.raises(_backup.BackupError) as raised:
        _backup.values_of(text, "/x/copy.yaml")
    assert "devpi_secrets_backup_file" in str(raised.value)
    assert "ConfigMap" not in str(raised.value) and "stringData: {a: b}" not in str(raised.value)


def test_the_file_is_replaced_through_a_0600_temporary_file(tmp_path):
    path = tmp_path / "copy.yaml"
    path.write_bytes(b"old")
    _backup.write_file(str(path), b"new")
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["copy.yaml"]


def _stamps(result):
    return {
        w["metadata"]["name"]: w["metadata"].get("annotations", {}).get(_ages.ANNOTATION)
        for w in result["writes"]
        if w["kind"] == "Secret"
    }


def test_a_restored_value_keeps_the_stamp_the_copy_kept_with_it():
    made = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, clock=lambda: made,
                       copy={"enabled": True, "exists": False, "values": {}})  # fmt: skip
    assert first["backup"]["stamps"]["devpi-secret"] == {"secret": {"at": "2026-01-01T00:00:00Z", "by": VERSION}}
    backup = first["backup"]
    docs = _backup.manifests(backup["values"], backup["types"], "devpi", {}, backup["stamps"])
    text = yaml.safe_dump_all(docs)
    assert _backup.stamps_of(text) == first["backup"]["stamps"] and _backup.values_of(text) == first["backup"]["values"]
    later = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rebuilt = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, clock=lambda: later, copy=as_copy(first))
    assert _stamps(rebuilt) == _stamps(first)
    assert rebuilt["backup"]["action"] == "unchanged"
    assert next(r for r in rebuilt["report"] if r["name"] == "devpi-secret")["ages"]["secret"]["age_days"] == 59


def test_a_copy_without_stamps_restores_a_first_seen_age_and_gets_the_stamps():
    first = first_run()
    old_copy = dict(as_copy(first), stamps={})  # written before the copy kept stamps
    rebuilt = _plan.plan(TABLE, empty_cluster(), SUPPLIED, INPUTS, [], BASE, copy=old_copy)
    stamp = json.loads(_stamps(rebuilt)["devpi-secret"])["secret"]
    assert set(stamp) == {"seen", "by"}  # at least as old as the restore, not made then
    assert rebuilt["backup"]["action"] == "updated"
    assert {c["why"] for c in rebuilt["backup"]["changes"]} == {"age"}
