"""The plan: what each Secret must hold and which writes get it there, from the role's own table."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import hash_password
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import (
    CREATE_GUARD_UID,
    current_values,
    draw_args,
    generated_values,
    htpasswd_content,
    loop_item,
    secret_plan,
)

REPO = Path(__file__).resolve().parents[4]
CLIENT = "devpi-basic-auth-client"
# The role's own table, with the client Secret's name as the role's default renders it.
TABLE = yaml.safe_load(
    (REPO / "roles/devpi_secrets/vars/main.yml")
    .read_text()
    .replace("{{ devpi_secrets_basic_auth_client_name }}", CLIENT)
)["_devpi_secrets_table"]
ROWS = {row["name"]: row for row in TABLE}
BASE = {"app.kubernetes.io/part-of": "devpi", "app.kubernetes.io/managed-by": "theedgeworks.devpi"}
SUPPLIED = {
    "tls_cert": "CERT\n",
    "tls_key": "KEY\n",
    "oauth2_client_id": "theedgeworks",
    "oauth2_client_secret": "client-secret-value",
    "basic_auth_user": "pypi-user",
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
        # as Ansible registers it with the role's loop_var
        result = {"_devpi_secrets_key": [row, key_row], "ansible_loop_var": "_devpi_secrets_key"}
        result["changed"] = value is not None
        if value is not None:
            result.update(value=value, generated=True)
        result.update((flags or {}).get((name, key), {}))
        results.append(result)
    return {"results": results}


# Values of the right form (the plan keeps only what the key's rule can keep): base64 of 32 bytes, and a password
# with a real bcrypt hash (cost 4: fast).
NEW = {
    ("devpi-secret", "secret"): base64.b64encode(b"S" * 32).decode(),
    ("devpi-oauth2-proxy-secret", "cookie-secret"): base64.urlsafe_b64encode(b"C" * 32).decode(),
    (CLIENT, "password"): "P" * 32,
}
HTPASSWD_NEW = {"users": [{"name": "pypi-user", "action": "created"}], "order": ["pypi-user"], "lines": {}}
HTPASSWD_NEW["lines"]["pypi-user"] = "pypi-user:" + hash_password("P" * 32, 4)


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
        "devpi-secret": secret({"secret": NEW["devpi-secret", "secret"]}),
        "devpi-oauth2-proxy-secret": secret(
            {
                "client-id": "theedgeworks",
                "client-secret": "client-secret-value",
                "cookie-secret": NEW["devpi-oauth2-proxy-secret", "cookie-secret"],
            }
        ),
        "devpi-basic-auth": secret({"auth": HTPASSWD_NEW["lines"]["pypi-user"] + "\n"}),
        CLIENT: secret({"username": "pypi-user", "password": "P" * 32}, "kubernetes.io/basic-auth"),
    }
    return cluster


KEPT = {key: None for key in NEW}
HTPASSWD_KEPT = {"users": [{"name": "pypi-user", "action": "kept"}], "order": ["pypi-user"], "lines": {}}


def test_first_run_creates_the_namespace_then_every_secret_with_the_create_guard():
    result = plan(empty_cluster())
    assert [s["action"] for s in result["secrets"]] == ["created"] * 5
    kinds = [(w["kind"], w["metadata"]["name"]) for w in result["writes"]]
    assert kinds[0] == ("Namespace", "devpi") and len(kinds) == 6 and result["writes_after"] == []
    assert result["changes"] is True
    for write in result["writes"][1:]:
        assert write["metadata"]["uid"] == CREATE_GUARD_UID
        assert "resourceVersion" not in write["metadata"]
        assert None not in write["data"].values()
    basic, client = result["writes"][4:]
    assert set(basic["data"]) == {"auth"}
    assert base64.b64decode(basic["data"]["auth"]).decode() == HTPASSWD_NEW["lines"]["pypi-user"] + "\n"
    assert client["type"] == "kubernetes.io/basic-auth"
    assert {k: base64.b64decode(v).decode() for k, v in client["data"].items()} == {
        "username": "pypi-user",
        "password": "P" * 32,
    }
    assert result["writes"][1]["type"] == "kubernetes.io/tls"


def test_rerun_with_everything_kept_writes_nothing():
    result = plan(filled_cluster(), random_results(KEPT), HTPASSWD_KEPT)
    assert [s["action"] for s in result["secrets"]] == ["kept"] * 5
    assert result["writes"] == [] and result["deletes"] == [] and result["notes"] == []
    assert result["changes"] is False  # the role then skips its whole write phase


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
        CLIENT: "kept",
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


def test_a_given_password_leaves_the_client_secret_alone_and_reports_it_unused():
    supplied = dict(SUPPLIED, basic_auth_password="given")
    values = {k: v for k, v in KEPT.items() if k[0] != CLIENT}
    result = plan(filled_cluster(), random_results(values), HTPASSWD_KEPT, supplied=supplied)
    assert result["writes"] == [] and [s["name"] for s in result["secrets"]] == list(ROWS)[:4]
    assert result["report"][-1]["name"] == CLIENT and result["report"][-1]["action"] == "unused"
    assert any(CLIENT in w for w in result["notes"])


def test_a_password_kept_by_1_0_0_moves_first_then_leaves_devpi_basic_auth():
    cluster = filled_cluster()
    del cluster["secrets"][CLIENT]
    cluster["secrets"]["devpi-basic-auth"] = secret({"auth": "pypi-user:h\n", "password": "L" * 32})
    assert current_values(TABLE, cluster)[CLIENT] == {"password": "L" * 32}
    result = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)
    (client,) = [w for w in result["writes"] if w["metadata"]["name"] == CLIENT]
    assert base64.b64decode(client["data"]["password"]).decode() == "L" * 32
    (after,) = result["writes_after"]
    assert after["after"] == CLIENT and after["definition"]["data"] == {"auth": b64("pypi-user:h\n"), "password": None}
    assert {e["name"]: e["action"] for e in result["secrets"]}["devpi-basic-auth"] == "updated"
    assert result["report"][3]["note"] == "password moved to " + CLIENT


def test_labels_only_difference_is_an_update_and_extra_keys_are_left_alone():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-secret"]["labels"] = {}
    cluster["secrets"]["devpi-tls"]["data"]["theirs"] = b64("x")
    result = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)
    assert [s["action"] for s in result["secrets"]] == ["kept", "updated", "kept", "kept", "kept"]


def test_wrong_type_is_replaced_delete_then_create():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-tls"]["type"] = "Opaque"
    result = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)
    assert result["secrets"][0]["action"] == "replaced"
    assert result["deletes"] == [{"name": "devpi-tls", "uid": "uid-7", "resource_version": "7"}]
    assert result["changes"] is True
    assert result["writes"][0]["metadata"]["uid"] == CREATE_GUARD_UID


def test_repaired_cookie_secret_is_named_and_warned_about():
    flags = {("devpi-oauth2-proxy-secret", "cookie-secret"): {"repaired": True, "generated": False}}
    values = dict(KEPT)
    values[("devpi-oauth2-proxy-secret", "cookie-secret")] = "D" * 44
    result = plan(filled_cluster(), random_results(values, flags), HTPASSWD_KEPT)
    assert result["secrets"][2]["action"] == "repaired"
    assert any("URL-safe" in w for w in result["notes"])


def test_invalid_generated_value_regenerated_is_warned_about_with_its_effect():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-secret"] = secret({"secret": "too short"})
    values = dict(KEPT)
    values[("devpi-secret", "secret")] = "N" * 44
    result = plan(cluster, random_results(values), HTPASSWD_KEPT)
    assert result["secrets"][1]["action"] == "updated"
    assert result["notes"] == [
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
    results = random_results({("devpi-secret", "secret"): "N" * 44, (CLIENT, "password"): None})
    results["results"].append(
        {"skipped": True, "ansible_loop_var": "_devpi_secrets_key",
         "_devpi_secrets_key": [ROWS["devpi-oauth2-proxy-secret"], {"key": "cookie-secret"}]}
    )  # fmt: skip
    assert generated_values(results, cluster, TABLE) == {
        "devpi-secret": {"secret": "N" * 44},
        CLIENT: {"password": "P" * 32},
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


def test_loop_item_follows_the_loop_var_and_falls_back_to_item():
    registered = {"ansible_loop_var": "_devpi_secrets_key", "_devpi_secrets_key": [1, 2], "item": "outer"}
    assert loop_item(registered) == [1, 2]
    assert loop_item({"item": [1, 2]}) == [1, 2]


def test_rotation_is_expanded_once_with_rotated_with():
    args = draw_args(TABLE, filled_cluster(), user="pypi-user", rotate=["devpi-basic-auth"])
    assert args[CLIENT]["password"]["regenerate"] == "always"  # rotated with devpi-basic-auth
    assert args["devpi-secret"]["secret"] == {
        "current": NEW["devpi-secret", "secret"],
        "regenerate": "full_idempotence",
    }


@pytest.mark.parametrize("stored", ["a", "A", "=", "not base64 at all!"])
def test_a_stored_value_the_rule_cannot_keep_is_never_handed_over(stored):
    cluster = filled_cluster()
    cluster["secrets"]["devpi-secret"] = secret({"secret": stored})
    args = draw_args(TABLE, cluster, user="pypi-user")
    assert args["devpi-secret"]["secret"] == {"current": None, "regenerate": "full_idempotence"}
    values = dict(KEPT)
    values["devpi-secret", "secret"] = NEW["devpi-secret", "secret"]
    result = plan(cluster, random_results(values), HTPASSWD_KEPT)
    assert [w for w in result["notes"] if "devpi-secret/secret" in w and "regenerated" in w]


@pytest.mark.parametrize(
    ("password", "hashed_as", "kept"),
    [
        ("correct horse battery staple", "correct horse battery staple", True),  # another form, verifies
        ("correct horse battery staple", "something else entirely", False),  # does not verify
        ("short", "short", False),  # breaks the rules (under 12 bytes)
        ("pypi-user", None, False),  # is the user name
        ("a long enough password", None, True),  # no hash stored: nothing contradicts it
    ],
)
def test_a_stored_password_is_kept_while_it_follows_the_rules_and_verifies(password, hashed_as, kept):
    cluster = filled_cluster()
    cluster["secrets"][CLIENT] = secret({"username": "pypi-user", "password": password}, "kubernetes.io/basic-auth")
    auth = "" if hashed_as is None else "pypi-user:" + hash_password(hashed_as, 4) + "\n"
    cluster["secrets"]["devpi-basic-auth"] = secret({"auth": auth})
    args = draw_args(TABLE, cluster, user="pypi-user")[CLIENT]["password"]
    if kept:
        assert args == {"current": password, "regenerate": "never"}
    else:
        assert args == {"current": None, "regenerate": "full_idempotence"}


def test_an_unowned_secret_under_a_name_the_seed_does_not_define_is_a_problem_unless_adopted():
    cluster = filled_cluster()
    cluster["secrets"][CLIENT]["labels"] = {}
    cluster["secrets"]["devpi-secret"]["labels"] = {}  # a seed name: taken over
    values = dict(KEPT)
    values[CLIENT, "password"] = "Q" * 32
    result = plan(cluster, random_results(values), HTPASSWD_KEPT)
    (problem,) = result["problems"]
    assert "devpi/" + CLIENT in problem and "devpi_secrets_adopt" in problem
    adopted = secret_plan(TABLE, cluster, SUPPLIED, random_results(values), HTPASSWD_KEPT, {}, [], "devpi",
                          base_labels=BASE, adopt=[CLIENT])  # fmt: skip
    assert adopted["problems"] == []


def test_a_wrong_type_is_a_problem_unless_replacing_is_allowed():
    cluster = filled_cluster()
    cluster["secrets"]["devpi-tls"]["type"] = "Opaque"
    (problem,) = plan(cluster, random_results(KEPT), HTPASSWD_KEPT)["problems"]
    assert "devpi_secrets_replace_wrong_type" in problem and "devpi/devpi-tls" in problem
    allowed = secret_plan(TABLE, cluster, SUPPLIED, random_results(KEPT), HTPASSWD_KEPT, {}, [], "devpi",
                          base_labels=BASE, replace_wrong_type=True)  # fmt: skip
    assert allowed["problems"] == [] and allowed["deletes"][0]["name"] == "devpi-tls"


def test_rotated_with_is_one_rule():
    """rotation_owner is the one reading of `rotated_with`: rotating(), the ages and the audit all go through it."""
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._secret_plan import rotating, rotation_owner

    owners = {row["name"]: rotation_owner(row) for row in TABLE}
    assert owners == {
        "devpi-tls": "",
        "devpi-secret": "devpi-secret",
        "devpi-oauth2-proxy-secret": "devpi-oauth2-proxy-secret",
        "devpi-basic-auth": "devpi-basic-auth",
        CLIENT: "devpi-basic-auth",
    }
    assert [row["name"] for row in TABLE if rotating(row, ["devpi-basic-auth"])] == ["devpi-basic-auth", CLIENT]
    assert [row["name"] for row in TABLE if rotating(row, ["devpi-secret"])] == ["devpi-secret"]
