"""Ages on every Secret and scheduled rotation, against a real Kubernetes API server.

The stamps (annotation theedgeworks.devpi/generated-at) are written with the values and never on their own: a re-run
sends no write and leaves them byte for byte; a value older than devpi_secrets_max_age_days is rotated with one
write, and the report says how old it was; a Secret made by the seed's recipe keeps an unknown age.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from helpers.kube import kubectl
from helpers.site import SECRET_NAMES, api_writes, data_of, read_secrets, run_site, writes_between

pytestmark = pytest.mark.integration

ANNOTATION = "theedgeworks.devpi/generated-at"
VERSION = yaml.safe_load((Path(__file__).resolve().parents[2] / "galaxy.yml").read_text())["version"]
#: the keys stamped per Secret: the generated values and the htpasswd line made from the password
STAMPED = {
    "devpi-secret": {"secret"},
    "devpi-oauth2-proxy-secret": {"cookie-secret"},
    "devpi-basic-auth": {"auth"},
    "devpi-basic-auth-client": {"password"},
}


def assert_ok(run, changed=None):
    assert run.rc == 0, run.output[-6000:]
    if changed is not None:
        assert run.recap.get("changed") == changed, run.output[-6000:]


def annotations(secrets: dict) -> dict:
    return {name: (obj["metadata"].get("annotations") or {}).get(ANNOTATION) for name, obj in secrets.items()}


def moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def entry(run, name: str) -> dict:
    return next(item for item in run.report if item["name"] == name)


def test_first_run_stamps_every_generated_key_and_a_re_run_writes_nothing_and_keeps_them(kubeconfig, namespace, inputs):
    start = datetime.now(timezone.utc).replace(microsecond=0)
    first = run_site(kubeconfig, namespace, inputs)
    end = datetime.now(timezone.utc)
    assert_ok(first, changed=1)
    secrets = read_secrets(kubeconfig, namespace)
    stamps = annotations(secrets)
    assert stamps["devpi-tls"] is None  # nothing generated in it
    for name, keys in STAMPED.items():
        parsed = json.loads(stamps[name])
        assert set(parsed) == keys, name
        for stamp in parsed.values():
            assert set(stamp) == {"at", "by"} and stamp["by"] == VERSION
            assert start <= moment(stamp["at"]) <= end
        assert {key: value["age_days"] for key, value in entry(first, name)["ages"].items()} == dict.fromkeys(keys, 0)

    before = api_writes(kubeconfig)
    again = run_site(kubeconfig, namespace, inputs)
    assert_ok(again, changed=0)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    after = read_secrets(kubeconfig, namespace)
    assert annotations(after) == stamps  # byte for byte
    assert data_of(after) == data_of(secrets)


def test_a_value_past_its_max_age_is_rotated_with_one_write_and_the_report_names_its_age(kubeconfig, namespace, inputs):
    assert_ok(run_site(kubeconfig, namespace, inputs))
    old = datetime.now(timezone.utc) - timedelta(days=100, minutes=5)
    stamp = json.dumps({"secret": {"at": old.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": "1.0.0"}}, separators=(",", ":"))
    kubectl("annotate", "--overwrite", "secret", "devpi-secret", "-n", namespace, f"{ANNOTATION}={stamp}",
            kubeconfig=kubeconfig)  # fmt: skip
    secrets = read_secrets(kubeconfig, namespace)
    max_ages = {"devpi-secret": 90, "devpi-oauth2-proxy-secret": 30, "devpi-basic-auth": 180}

    before = api_writes(kubeconfig)
    start = datetime.now(timezone.utc).replace(microsecond=0)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": max_ages})
    assert_ok(run, changed=1)
    assert writes_between(before, api_writes(kubeconfig)) == {("PATCH", "secrets"): 1}
    after = read_secrets(kubeconfig, namespace)
    assert after["devpi-secret"]["data"]["secret"] != secrets["devpi-secret"]["data"]["secret"]
    assert len(base64.b64decode(base64.b64decode(after["devpi-secret"]["data"]["secret"]))) == 32
    for name in SECRET_NAMES:
        if name != "devpi-secret":
            assert after[name]["metadata"]["resourceVersion"] == secrets[name]["metadata"]["resourceVersion"]
    fresh = json.loads(annotations(after)["devpi-secret"])["secret"]
    assert fresh["by"] == VERSION and moment(fresh["at"]) >= start

    item = entry(run, "devpi-secret")
    assert item["action"] == "rotated" and item["max_age_days"] == 90
    assert item["rotation"]["reason"] == "max_age"
    assert item["rotation"]["age_days"] == 100 and item["rotation"]["max_age_days"] == 90
    assert item["ages"]["secret"]["age_days"] == 0
    assert {i["name"]: i["action"] for i in run.report if i["name"] != "devpi-secret"} == {
        name: "kept" for name in SECRET_NAMES if name != "devpi-secret"
    }

    before = api_writes(kubeconfig)
    assert_ok(run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": max_ages}), changed=0)
    assert writes_between(before, api_writes(kubeconfig)) == {}


def test_a_secret_made_by_the_seed_recipe_keeps_an_unknown_age_and_is_not_rotated_on_it(kubeconfig, namespace, inputs):
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    seed_secret = base64.b64encode(bytes(range(32))).decode()
    kubectl("create", "secret", "generic", "devpi-secret", "-n", namespace, f"--from-literal=secret={seed_secret}",
            kubeconfig=kubeconfig)  # fmt: skip
    max_ages = {"devpi-secret": 1}

    first = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": max_ages})
    assert_ok(first, changed=1)
    assert entry(first, "devpi-secret")["action"] == "updated"  # the labels: the write it needs anyway
    secrets = read_secrets(kubeconfig, namespace)
    assert base64.b64decode(secrets["devpi-secret"]["data"]["secret"]).decode() == seed_secret
    seen = json.loads(annotations(secrets)["devpi-secret"])["secret"]
    assert set(seen) == {"seen", "by"}  # first seen now: made earlier, by someone else
    assert entry(first, "devpi-secret")["ages"]["secret"]["age_days"] is None

    before = api_writes(kubeconfig)
    again = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": max_ages})
    assert_ok(again, changed=0)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    item = entry(again, "devpi-secret")
    assert item["action"] == "kept" and item["ages"]["secret"]["age_days"] is None
    assert item["ages"]["secret"]["at_least_days"] == 0
    assert annotations(read_secrets(kubeconfig, namespace)) == annotations(secrets)


def test_a_labelled_secret_without_stamp_is_not_written_to_stamp_it_nor_rotated(kubeconfig, namespace, inputs):
    """As release 2.0.0 left it: labelled, no annotation. No write just to stamp; a max age cannot rotate it."""
    assert_ok(run_site(kubeconfig, namespace, inputs))
    kubectl("annotate", "secret", "devpi-secret", "-n", namespace, f"{ANNOTATION}-", kubeconfig=kubeconfig)
    secrets = read_secrets(kubeconfig, namespace)

    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": {"devpi-secret": 1}})
    assert_ok(run, changed=0)
    assert writes_between(before, api_writes(kubeconfig)) == {}
    assert entry(run, "devpi-secret")["ages"] == {"secret": {"age_days": None}}
    assert data_of(read_secrets(kubeconfig, namespace)) == data_of(secrets)
    assert [w for w in run.warnings if "devpi-secret/secret" in w]


def test_a_bad_max_age_fails_before_any_write_naming_the_variable(kubeconfig, namespace, inputs):
    before = api_writes(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, extra={"devpi_secrets_max_age_days": {"devpi-tls": 30}})
    assert run.rc == 2, run.output[-3000:]
    assert "devpi_secrets_max_age_days" in run.output
    assert writes_between(before, api_writes(kubeconfig)) == {}
