"""Ages of the generated values: the stamps the plan writes, the ages it reports, and scheduled rotation
(plugin_utils/_ages.py, used by the plan step plugin_utils/_plan.py)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from test_plan_step import INPUTS, _as_read
from test_secret_plan import BASE, CLIENT, SUPPLIED, TABLE, empty_cluster

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _ages
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._version import COLLECTION_VERSION

REPO = Path(__file__).resolve().parents[4]
NOW = datetime(2026, 12, 3, 8, 0, 0, tzinfo=timezone.utc)
ROTATABLE = [row["name"] for row in TABLE if row["rotatable"]]
#: every key the plan stamps, by Secret: the generated values and the htpasswd line made from the password
STAMPED = {"devpi-secret": ["secret"], "devpi-oauth2-proxy-secret": ["cookie-secret"], "devpi-basic-auth": ["auth"],
           CLIENT: ["password"]}  # fmt: skip

_plan = None


@pytest.fixture(autouse=True)
def _plan_module():
    global _plan
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan as module

    _plan = module


def run(cluster, rotate=(), max_ages=None, now=NOW, supplied=None):
    inputs = dict(INPUTS, max_age_days=max_ages or {})
    return _plan.plan(TABLE, cluster, supplied or SUPPLIED, inputs, list(rotate), BASE, clock=lambda: now)


def as_read(result, previous=None):
    """The cluster after the plan's writes, annotations included; Secrets not written stay as they were."""
    cluster = _as_read(result)
    written = {w["metadata"]["name"]: w for w in result["writes"] + [a["definition"] for a in result["writes_after"]]}
    for name, state in cluster["secrets"].items():
        if name in written:
            state["annotations"] = dict(written[name]["metadata"].get("annotations") or {})
        else:
            state.update(previous["secrets"][name])
    return cluster


def stamps_of(cluster, name):
    return json.loads(cluster["secrets"][name]["annotations"][_ages.ANNOTATION])


def with_stamp(cluster, name, stamps):
    cluster["secrets"][name]["annotations"] = {_ages.ANNOTATION: _ages.dump(stamps)}
    return cluster


def report(result, name):
    return next(item for item in result["report"] if item["name"] == name)


def test_the_version_recorded_is_the_collection_version_of_galaxy_yml():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert COLLECTION_VERSION == galaxy["version"]


def test_a_first_run_stamps_every_generated_key_and_only_those():
    result = run(empty_cluster())
    by_name = {w["metadata"]["name"]: w for w in result["writes"] if w["kind"] == "Secret"}
    assert "annotations" not in by_name["devpi-tls"]["metadata"]  # nothing generated in it
    for name, keys in STAMPED.items():
        text = by_name[name]["metadata"]["annotations"][_ages.ANNOTATION]
        stamps = json.loads(text)
        assert sorted(stamps) == keys
        assert all(s == {"at": "2026-12-03T08:00:00Z", "by": COLLECTION_VERSION} for s in stamps.values())
        assert text == json.dumps(stamps, sort_keys=True, separators=(",", ":"))  # compact
        assert report(result, name)["ages"] == {k: {"age_days": 0, "at": "2026-12-03T08:00:00Z",
                                                    "by": COLLECTION_VERSION} for k in keys}  # fmt: skip
    assert "ages" not in report(result, "devpi-tls")


def test_a_re_run_writes_nothing_and_reports_the_ages_of_the_stamps():
    first = run(empty_cluster())
    later = NOW + timedelta(days=10, hours=5)
    again = run(as_read(first), now=later)
    assert again["changes"] is False and again["writes"] == []
    assert report(again, "devpi-secret")["ages"]["secret"]["age_days"] == 10


def test_a_written_secret_keeps_the_stamps_of_its_kept_values_byte_for_byte():
    first = run(empty_cluster())
    cluster = as_read(first)
    before = cluster["secrets"]["devpi-oauth2-proxy-secret"]["annotations"][_ages.ANNOTATION]
    supplied = dict(SUPPLIED, oauth2_client_secret="a new client secret")  # the user's value changes
    result = run(cluster, supplied=supplied, now=NOW + timedelta(days=3))
    (write,) = result["writes"]
    assert write["metadata"]["name"] == "devpi-oauth2-proxy-secret"
    assert write["metadata"]["annotations"][_ages.ANNOTATION] == before


def test_a_rotation_stamps_the_new_value_and_its_hash_line_only():
    first = run(empty_cluster())
    later = NOW + timedelta(days=5)
    result = run(as_read(first), rotate=["devpi-basic-auth"], now=later)
    stamps = {w["metadata"]["name"]: json.loads(w["metadata"]["annotations"][_ages.ANNOTATION])
              for w in result["writes"]}  # fmt: skip
    assert stamps == {
        "devpi-basic-auth": {"auth": {"at": "2026-12-08T08:00:00Z", "by": COLLECTION_VERSION}},
        CLIENT: {"password": {"at": "2026-12-08T08:00:00Z", "by": COLLECTION_VERSION}},
    }
    assert report(result, CLIENT)["rotation"] == {"reason": "devpi_secrets_rotate"}


def test_a_value_past_its_max_age_is_rotated_once_and_the_report_names_the_age():
    first = run(empty_cluster())
    cluster = as_read(first)
    old = {"secret": {"at": "2026-08-25T08:00:00Z", "by": "1.9.0"}}  # 100 days before NOW
    with_stamp(cluster, "devpi-secret", old)
    result = run(cluster, max_ages={"devpi-secret": 90, "devpi-oauth2-proxy-secret": 30})
    (write,) = result["writes"]
    assert write["metadata"]["name"] == "devpi-secret"
    assert write["data"]["secret"] != cluster["secrets"]["devpi-secret"]["data"]["secret"]
    assert json.loads(write["metadata"]["annotations"][_ages.ANNOTATION]) == {
        "secret": {"at": "2026-12-03T08:00:00Z", "by": COLLECTION_VERSION}
    }
    entry = report(result, "devpi-secret")
    assert entry["action"] == "rotated" and entry["max_age_days"] == 90
    assert entry["rotation"]["reason"] == "max_age"
    assert entry["rotation"]["age_days"] == 100 and entry["rotation"]["max_age_days"] == 90
    assert "100" in entry["rotation"]["note"] and "90" in entry["rotation"]["note"]
    assert entry["ages"]["secret"]["age_days"] == 0
    assert report(result, "devpi-oauth2-proxy-secret")["action"] == "kept"  # 0 days old, max 30
    again = run(as_read(result, cluster), max_ages={"devpi-secret": 90})
    assert again["changes"] is False


def test_the_age_limit_of_devpi_basic_auth_is_the_generated_password_s_and_rotates_both():
    first = run(empty_cluster())
    cluster = with_stamp(as_read(first), CLIENT, {"password": {"at": "2026-01-01T00:00:00Z", "by": "2.0.0"}})
    result = run(cluster, max_ages={"devpi-basic-auth": 180})
    assert {e["name"]: e["action"] for e in result["secrets"] if e["action"] != "kept"} == {
        "devpi-basic-auth": "rotated",
        CLIENT: "rotated",
    }
    assert report(result, CLIENT)["rotation"]["age_days"] == 336
    # with a given password nothing is generated: nothing to age, nothing rotated
    given = run(cluster, max_ages={"devpi-basic-auth": 180}, supplied=dict(SUPPLIED, basic_auth_password="x" * 20))
    assert all(e["action"] != "rotated" for e in given["secrets"])


@pytest.mark.parametrize(("days", "due"), [(89, False), (90, False), (91, True)])
def test_due_only_past_the_max_age(days, due):
    stamp = {"at": _ages.timestamp(NOW - timedelta(days=days, seconds=1)), "by": "2.0.0"}
    cluster = with_stamp(as_read(run(empty_cluster())), "devpi-secret", {"secret": stamp})
    found, _warnings = _ages.due_for_rotation(TABLE, cluster, {"devpi-secret": 90}, NOW)
    assert ("devpi-secret" in found) is due


def seed_cluster():
    """devpi-secret as the seed's recipe makes it: no labels, no stamp; the others as a first run left them."""
    cluster = as_read(run(empty_cluster()))
    cluster["secrets"]["devpi-secret"]["labels"] = {}
    del cluster["secrets"]["devpi-secret"]["annotations"]
    return cluster


def test_an_adopted_secret_gets_a_first_seen_stamp_with_its_first_write_and_an_unknown_age():
    cluster = seed_cluster()
    result = run(cluster, now=NOW + timedelta(days=1))
    (write,) = result["writes"]  # the labels: the one write it needs anyway
    assert write["metadata"]["name"] == "devpi-secret"
    assert json.loads(write["metadata"]["annotations"][_ages.ANNOTATION]) == {
        "secret": {"seen": "2026-12-04T08:00:00Z", "by": COLLECTION_VERSION}
    }
    later = run(as_read(result, cluster), now=NOW + timedelta(days=41))
    assert later["changes"] is False
    assert report(later, "devpi-secret")["ages"]["secret"] == {
        "age_days": None,
        "at_least_days": 40,
        "seen": "2026-12-04T08:00:00Z",
        "by": COLLECTION_VERSION,
    }
    # first seen longer ago than the max age: older still, rotated
    due = run(as_read(result, cluster), now=NOW + timedelta(days=41), max_ages={"devpi-secret": 30})
    assert report(due, "devpi-secret")["rotation"]["reason"] == "max_age"


def test_a_kept_secret_without_stamp_is_not_written_and_not_rotated_on_an_unknown_age():
    cluster = as_read(run(empty_cluster()))
    del cluster["secrets"]["devpi-secret"]["annotations"]  # as 2.0.0 left it: labelled, no stamp
    result = run(cluster, max_ages={"devpi-secret": 1})
    assert result["changes"] is False
    entry = report(result, "devpi-secret")
    assert entry["action"] == "kept" and entry["ages"] == {"secret": {"age_days": None}}
    assert [w for w in result["notes"] if "devpi-secret/secret" in w and "devpi_secrets_max_age_days" in w]


def test_a_repaired_cookie_secret_keeps_its_age():
    first = run(empty_cluster())
    cluster = as_read(first)
    state = cluster["secrets"]["devpi-oauth2-proxy-secret"]
    raw = b"\xfb\xff" * 16  # standard base64 with '+' and '/': the seed's recipe
    state["text"]["cookie-secret"] = base64.b64encode(raw).decode()
    state["data"]["cookie-secret"] = base64.b64encode(state["text"]["cookie-secret"].encode()).decode()
    result = run(cluster, now=NOW + timedelta(days=2))
    assert report(result, "devpi-oauth2-proxy-secret")["action"] == "repaired"
    (write,) = result["writes"]
    assert json.loads(write["metadata"]["annotations"][_ages.ANNOTATION])["cookie-secret"]["at"] == (
        "2026-12-03T08:00:00Z"
    )


def test_a_damaged_stamp_is_no_stamp_and_causes_no_write():
    cluster = as_read(run(empty_cluster()))
    cluster["secrets"]["devpi-secret"]["annotations"] = {_ages.ANNOTATION: "{not json"}
    result = run(cluster)
    assert result["changes"] is False and report(result, "devpi-secret")["ages"] == {"secret": {"age_days": None}}


def test_the_report_and_the_stamps_hold_no_value():
    result = run(empty_cluster())
    texts = [json.dumps(result["report"])] + [
        w["metadata"].get("annotations", {}).get(_ages.ANNOTATION, "") for w in result["writes"]
    ]
    for entry in result["secrets"]:
        for value in entry["data"].values():
            if value is None:
                continue
            for form in (value, base64.b64decode(value).decode()):
                if len(form) >= 8:
                    assert all(form not in text for text in texts)


@pytest.mark.parametrize(
    ("value", "expected", "problem"),
    [
        ({}, {}, None),
        ({"devpi-secret": 90, "devpi-basic-auth": "180"}, {"devpi-secret": 90, "devpi-basic-auth": 180}, None),
        ({"devpi-tls": 30}, {}, "devpi-tls"),
        ({CLIENT: 30}, {}, CLIENT),
        ({"devpi-secret": 0}, {}, "positive"),
        ({"devpi-secret": True}, {}, "positive"),
        ({"devpi-secret": "ninety"}, {}, "positive"),
    ],
)
def test_max_ages_are_checked_naming_the_variable(value, expected, problem):
    converted, problems = _ages.max_age_problems(value, ROTATABLE)
    assert converted == expected
    if problem is None:
        assert problems == []
    else:
        (text,) = problems
        assert text.startswith("devpi_secrets_max_age_days ") and problem in text


def test_a_rotation_on_age_restarts_the_workloads_that_read_the_secret():
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _consumers

    cluster = as_read(run(empty_cluster()))
    with_stamp(cluster, "devpi-secret", {"secret": {"at": "2026-08-25T08:00:00Z", "by": "2.0.0"}})
    volume = {"name": "s", "secret": {"secretName": "devpi-secret", "defaultMode": 0o400}}
    mount = {"name": "s", "mountPath": "/run/devpi/secret", "subPath": "secret"}
    pod = {"volumes": [volume], "containers": [{"name": "devpi", "image": "i", "volumeMounts": [mount]}]}
    devpi = {"kind": "Deployment", "metadata": {"name": "devpi"}, "spec": {"template": {"spec": pod}}}
    cluster["workloads"] = [_consumers.summarize(devpi)]
    inputs = dict(INPUTS, restart_consumers=True)
    quiet = _plan.plan(TABLE, cluster, SUPPLIED, inputs, [], BASE, clock=lambda: NOW)
    assert quiet["restarts"] == []  # 100 days old, but no maximum age: nothing changes
    due = _plan.plan(TABLE, cluster, SUPPLIED, dict(inputs, max_age_days={"devpi-secret": 90}), [], BASE,
                     clock=lambda: NOW)  # fmt: skip
    assert [(r["kind"], r["name"]) for r in due["restarts"]] == [("Deployment", "devpi")]
