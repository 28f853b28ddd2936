"""Tests of the htpasswd_bcrypt module, run through main() as Ansible runs it."""

from __future__ import annotations

import secrets

import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import (
    assemble,
    hash_password,
    parse_bcrypt,
    verify,
)
from ansible_collections.theedgeworks.devpi.plugins.modules import htpasswd_bcrypt


def pw():
    return secrets.token_urlsafe(24)


def line(name, password, cost=5):
    return "%s:%s" % (name, hash_password(password, cost))


def actions(result):
    return [(u["name"], u["action"]) for u in result["users"]]


def test_creates_lines(run_module, no_secret_in):
    p1, p2 = pw(), pw()
    out = run_module(
        htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": p1}, {"name": "bob", "password": p2}]}
    )
    r = out.result
    assert out.rc == 0 and r["changed"] and not r["reformatted"]
    assert actions(r) == [("alice", "created"), ("bob", "created")]
    assert r["order"] == ["alice", "bob"]
    for name, password in (("alice", p1), ("bob", p2)):
        n, hashed = r["lines"][name].split(":", 1)
        assert n == name and parse_bcrypt(hashed) == ("2y", 5) and verify(password, hashed)
    assert "content" not in r and "diff" not in r
    no_secret_in(out, [p1, p2])


def test_keeps_and_never_echoes_kept_line(run_module, no_secret_in):
    p1 = pw()
    kept = line("alice", p1)
    current = kept + "\n"
    out = run_module(
        htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": p1}], "current": current}, diff=True
    )
    r = out.result
    assert not r["changed"] and actions(r) == [("alice", "kept")] and r["lines"] == {}
    # No hash fingerprint: a hash is derived from a password a person may have chosen.
    assert r["diff"] == {"before": {"alice": "bcrypt, cost 5"}, "after": {"alice": "bcrypt, cost 5"}}
    no_secret_in(out, [p1, current, kept, kept.split(":", 1)[1]])


def test_full_contract_add_remove_rehash(run_module, no_secret_in):
    pa, pb, pc = pw(), pw(), pw()
    current = "\n".join([line("old", pw()), line("alice", pa), line("bob", "previous password", 5), "carol:{SHA}abc"])
    wanted = [
        {"name": "bob", "password": pb},
        {"name": "alice", "password": pa},
        {"name": "carol", "password": pc},
        {"name": "dave", "password": pw()},
    ]
    out = run_module(htpasswd_bcrypt.main, {"users": wanted, "current": current}, diff=True)
    r = out.result
    assert r["changed"]
    assert actions(r) == [
        ("bob", "rehashed"),
        ("alice", "kept"),
        ("carol", "rehashed"),
        ("dave", "created"),
        ("old", "removed"),
    ]
    assert set(r["lines"]) == {"bob", "carol", "dave"}
    content = assemble(current, r["order"], r["lines"])
    assert content.endswith("\n") and content.count("\n") == 4
    names = [entry.split(":", 1)[0] for entry in content.splitlines()]
    assert names == ["bob", "alice", "carol", "dave"]
    for entry, user in zip(content.splitlines(), wanted):
        assert verify(user["password"], entry.split(":", 1)[1])
    assert r["diff"]["before"] == {
        "old": "bcrypt, cost 5",
        "alice": "bcrypt, cost 5",
        "bob": "bcrypt, cost 5",
        "carol": "not bcrypt",
    }
    assert r["diff"]["after"] == {
        "bob": "new bcrypt hash, cost 5",
        "alice": "bcrypt, cost 5",
        "carol": "new bcrypt hash, cost 5",
        "dave": "new bcrypt hash, cost 5",
    }
    assert "sha256" not in out.stdout
    no_secret_in(out, [pa, pb, pc, current, line("x", pa)])
    for entry in current.splitlines():
        assert entry.split(":", 1)[1] not in out.stdout.replace('"current": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"', "")


def test_second_run_is_idempotent(run_module):
    users = [{"name": "alice", "password": pw()}, {"name": "bob", "password": pw()}]
    first = run_module(htpasswd_bcrypt.main, {"users": users}).result
    content = assemble("", first["order"], first["lines"])
    second = run_module(htpasswd_bcrypt.main, {"users": users, "current": content}).result
    assert not second["changed"] and second["lines"] == {}
    assert actions(second) == [("alice", "kept"), ("bob", "kept")]


@pytest.mark.parametrize(
    ("mode", "stored_cost", "expected"),
    [
        ("partial_idempotence", 4, "kept"),
        ("full_idempotence", 4, "rehashed"),
        ("full_idempotence", 5, "kept"),
        ("always", 5, "rehashed"),
    ],
)
def test_regenerate_modes(run_module, mode, stored_cost, expected):
    p = pw()
    current = line("alice", p, stored_cost) + "\n"
    r = run_module(
        htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": p}], "current": current, "regenerate": mode}
    ).result
    assert actions(r) == [("alice", expected)]
    assert r["changed"] is (expected != "kept")
    if expected == "rehashed":
        assert r["lines"]["alice"].startswith("alice:$2y$05$")


def test_2b_ident_rehashed_only_with_full_idempotence(run_module):
    p = pw()
    current = "alice:$2b$" + hash_password(p, 5)[4:] + "\n"
    args = {"users": [{"name": "alice", "password": p}], "current": current}
    assert actions(run_module(htpasswd_bcrypt.main, dict(args, regenerate="partial_idempotence")).result) == [
        ("alice", "kept")
    ]
    assert actions(run_module(htpasswd_bcrypt.main, args).result) == [("alice", "rehashed")]


def test_check_mode_same_decisions_and_returns_lines(run_module):
    p = pw()
    current = line("alice", p) + "\nold:{SHA}x\n"
    args = {"users": [{"name": "alice", "password": p}, {"name": "bob", "password": pw()}], "current": current}
    normal = run_module(htpasswd_bcrypt.main, args).result
    check = run_module(htpasswd_bcrypt.main, args, check_mode=True).result
    for key in ("changed", "users", "order", "reformatted"):
        assert normal[key] == check[key]
    assert set(check["lines"]) == {"bob"} and verify(args["users"][1]["password"], check["lines"]["bob"][4:])
    kept_only = run_module(
        htpasswd_bcrypt.main,
        {"users": [{"name": "alice", "password": p}], "current": line("alice", p) + "\n"},
        check_mode=True,
    ).result
    assert kept_only["changed"] is False


def test_layout_change_is_reported(run_module):
    p = pw()
    r = run_module(htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": p}], "current": line("alice", p)})
    assert r.result["changed"] and r.result["reformatted"] and r.result["lines"] == {}


def test_dropped_lines_warning_has_no_content(run_module):
    p = pw()
    secret_comment = "# " + pw()
    current = secret_comment + "\n" + line("alice", p) + "\nstray-" + p + "\n"
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": p}], "current": current})
    warnings = " ".join(out.warnings)
    assert "line(s) 1, 3" in warnings
    assert secret_comment not in out.stdout and p not in out.stdout


def test_cost_warning(run_module):
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "a", "password": pw()}], "cost": 8})
    warnings = " ".join(out.warnings)
    assert "nginx" in warnings and "332" in warnings and "2.8" in warnings
    assert out.result["lines"]["a"].startswith("a:$2y$08$")
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "a", "password": pw()}], "cost": 7})
    assert out.warnings == []


@pytest.mark.parametrize("cost", [3, 18, 31])
def test_cost_range(run_module, cost):
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "a", "password": pw()}], "cost": cost})
    assert out.rc == 1 and "cost must be an integer from 4 to 17" in out.result["msg"]


@pytest.mark.parametrize(
    ("users", "fragment"),
    [
        ([], "users must be a non-empty list"),
        ([{"name": "", "password": "secret-password"}], "users[0].name"),
        ([{"name": "a:b", "password": "secret-password"}], "users[0].name must not contain ':'"),
        ([{"name": "a\nb", "password": "secret-password"}], "users[0].name must not contain a line break"),
        ([{"name": "n" * 256, "password": "secret-password"}], "users[0].name is 256 bytes long"),
        (
            [{"name": "a", "password": "secret-password"}, {"name": "a", "password": "secret-password2"}],
            "users[1].name is the same as users[0].name",
        ),
        ([{"name": "a", "password": ""}], "users[0].password must be 1 to 72 bytes long, got an empty string"),
        ([{"name": "a", "password": "secret-password" * 5}], "users[0].password is 75 bytes long"),
        ([{"name": "a", "password": "secret-password\n"}], "users[0].password must not contain NUL, CR or LF"),
        ([{"name": "a", "password": "secret\x00password"}], "users[0].password must not contain NUL, CR or LF"),
        ([{"name": "a"}], "password"),
        ([{"password": "secret-password"}], "name"),
    ],
)
def test_rejects_bad_users(run_module, users, fragment):
    out = run_module(htpasswd_bcrypt.main, {"users": users})
    assert out.rc == 1 and out.result["failed"]
    assert fragment in out.result["msg"]
    for user in users:
        if user.get("password"):
            assert user["password"].strip() not in out.result["msg"]


def test_missing_users_option(run_module):
    out = run_module(htpasswd_bcrypt.main, {})
    assert out.result["failed"] and "users" in out.result["msg"]


def test_short_password_resalted_not_masked(run_module):
    # A one-character password occurs in most bcrypt hashes; the module must draw new salts instead of letting
    # Ansible turn it into "********" inside the returned line.
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": "Q"}], "cost": 4})
    r = out.result
    assert not r.get("failed"), r
    hashed = r["lines"]["alice"].split(":", 1)[1]
    assert "Q" not in hashed and "*" not in hashed and verify("Q", hashed)


def test_password_inside_a_name_fails_cleanly(run_module):
    out = run_module(htpasswd_bcrypt.main, {"users": [{"name": "alice", "password": "alice"}], "cost": 4})
    assert out.rc == 1 and out.result["failed"]
    assert "users[0].password occurs inside the module's result" in out.result["msg"]
