"""Unit tests of plugins/module_utils/htpasswd.py (no Ansible involved)."""

from __future__ import annotations

import bcrypt
import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import (
    assemble,
    describe_hash,
    hash_password,
    parse_bcrypt,
    parse_htpasswd,
    plan,
    unusable_lines,
    validate_cost,
    validate_users,
    verify,
)

PW = "correct horse battery staple 42"


def users(*pairs):
    return [{"name": n, "password": p} for n, p in pairs]


def test_hash_password_is_2y_with_cost():
    hashed = hash_password(PW, 4)
    assert hashed.startswith("$2y$04$") and len(hashed) == 60
    assert parse_bcrypt(hashed) == ("2y", 4)
    assert verify(PW, hashed)
    assert not verify(PW + "x", hashed)
    # bcrypt itself agrees (it accepts $2y$ directly)
    assert bcrypt.checkpw(PW.encode(), hashed.encode())


def test_hash_password_salts():
    assert hash_password(PW, 4) != hash_password(PW, 4)


def test_hash_password_limits():
    with pytest.raises(ValueError):
        hash_password("x" * 73, 4)
    with pytest.raises(ValueError):
        hash_password(PW, 3)
    with pytest.raises(ValueError):
        hash_password(PW, True)
    assert verify("é" * 36, hash_password("é" * 36, 4))  # 72 bytes is fine


@pytest.mark.parametrize("ident", ["2a", "2b", "2y"])
def test_verify_accepts_all_modern_idents(ident):
    hashed = bcrypt.hashpw(PW.encode(), bcrypt.gensalt(4, prefix=b"2b")).decode()
    hashed = "$%s$%s" % (ident, hashed[4:])
    assert verify(PW, hashed)
    assert not verify("wrong", hashed)


@pytest.mark.parametrize(
    "hashed",
    [
        "$apr1$abcdefgh$0123456789abcdefghijkl",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "$2x$04$" + "a" * 53,
        "$2y$03$" + "a" * 53,
        "$2y$04$" + "a" * 52,
        "$2y$04$" + "a" * 53 + "\r",
        "",
        "plain",
    ],
)
def test_not_bcrypt(hashed):
    assert parse_bcrypt(hashed) is None
    assert verify(PW, hashed) is False


def test_verify_bad_passwords_do_not_raise():
    hashed = hash_password(PW, 4)
    assert verify("", hashed) is False
    assert verify("x" * 100, hashed) is False
    assert verify("a\x00b", hashed) is False


def test_describe_hash_says_nothing_derived_from_the_hash():
    hashed = hash_password(PW, 5)
    assert describe_hash(hashed) == "bcrypt, cost 5"
    assert describe_hash("{SHA}abc") == "not bcrypt"


@pytest.mark.parametrize("cost", [4, 5, 17])
def test_validate_cost_ok(cost):
    assert validate_cost(cost) is None


@pytest.mark.parametrize("cost", [3, 18, 31, -1, True, "5", None])
def test_validate_cost_bad(cost):
    assert "cost" in validate_cost(cost)


def test_validate_users_ok():
    assert validate_users(users(("alice", PW), ("bob", "p:w# with spaces"), ("é" * 127, "x"))) is None


@pytest.mark.parametrize(
    ("bad_users", "fragment"),
    [
        ([], "non-empty list"),
        ("alice", "non-empty list"),
        (["alice"], "users[0] must be a dictionary"),
        (users(("", PW)), "users[0].name must be a non-empty string"),
        (users(("a:b", PW)), "users[0].name must not contain ':'"),
        (users(("a\nb", PW)), "users[0].name must not contain a line break"),
        (users(("a\rb", PW)), "users[0].name must not contain a line break"),
        (users(("a\x00b", PW)), "users[0].name must not contain a line break"),
        (users(("a\u2028b", PW)), "users[0].name must not contain a line break"),
        (users(("#admin", PW)), "users[0].name must not start with '#'"),
        (users(("a" * 256, PW)), "users[0].name is 256 bytes long"),
        (users(("é" * 128, PW)), "users[0].name is 256 bytes long"),
        (users(("ok", PW), ("ok", PW)), "users[1].name is the same as users[0].name"),
        (users(("ok", "")), "users[0].password must be 1 to 72 bytes long, got an empty string"),
        (users(("ok", PW), ("b", "x" * 73)), "users[1].password is 73 bytes long"),
        (users(("ok", "é" * 37)), "users[0].password is 74 bytes long"),
        (users(("ok", "a\nb")), "users[0].password must not contain NUL, CR or LF"),
        (users(("ok", PW + "\n")), "users[0].password must not contain NUL, CR or LF"),
        (users(("ok", "a\x00b")), "users[0].password must not contain NUL, CR or LF"),
        (users(("ok", "\ud800")), "users[0].password is not valid UTF-8"),
        ([{"name": "ok", "password": None}], "users[0].password must be a string of 1 to 72 bytes"),
    ],
)
def test_validate_users_rejects(bad_users, fragment):
    message = validate_users(bad_users)
    assert message is not None and fragment in message
    for user in bad_users if isinstance(bad_users, list) else []:
        if isinstance(user, dict) and user.get("password") and len(user["password"]) > 2:
            assert user["password"] not in message


def test_parse_htpasswd():
    text = "alice:$2y$05$x\n\n  \n# comment:with colon\nnocolon\nbob:{SHA}abc:def\r\nalice:second\n"
    assert parse_htpasswd(text) == [("alice", "$2y$05$x"), ("bob", "{SHA}abc:def\r"), ("alice", "second")]
    assert unusable_lines(text) == [(4, "comment"), (5, "no ':'")]
    assert parse_htpasswd("") == [] and parse_htpasswd(None) == []


def test_assemble():
    current = "old:HASH_OLD\nkeep:HASH_KEEP\n"
    assert assemble(current, ["keep", "new"], {"new": "new:HASH_NEW"}) == "keep:HASH_KEEP\nnew:HASH_NEW\n"
    assert assemble(None, ["new"], {"new": "new:H"}) == "new:H\n"


# --- plan -------------------------------------------------------------------------------------------------------------


def fake_hasher(password, cost):
    # Deterministic stand-in so tests can check which lines are new.
    return "$2y$%02d$NEW%s" % (cost, "." * 50)


def actions(p):
    return [(u["name"], u["action"]) for u in p.users]


def test_plan_creates_from_nothing():
    for current in (None, ""):
        p = plan(users(("alice", PW), ("bob", PW)), current, 5)
        assert actions(p) == [("alice", "created"), ("bob", "created")]
        assert p.order == ["alice", "bob"]
        assert set(p.lines) == {"alice", "bob"}
        assert p.changed and not p.reformatted
        for name, line in p.lines.items():
            n, hashed = line.split(":", 1)
            assert n == name and parse_bcrypt(hashed) == ("2y", 5) and verify(PW, hashed)
        assert p.before == {} and set(p.after) == {"alice", "bob"}


def test_plan_keeps_matching_line():
    line = "alice:" + hash_password(PW, 5)
    p = plan(users(("alice", PW)), line + "\n", 5)
    assert actions(p) == [("alice", "kept")]
    assert p.lines == {} and not p.changed and not p.reformatted
    assert p.before == p.after
    assert assemble(line + "\n", p.order, p.lines) == line + "\n"


def test_plan_wrong_password_rehashes():
    current = "alice:" + hash_password("old password", 5) + "\n"
    for mode in ("partial_idempotence", "full_idempotence"):
        p = plan(users(("alice", PW)), current, 5, mode)
        assert actions(p) == [("alice", "rehashed")] and p.changed
        assert verify(PW, p.lines["alice"].split(":", 1)[1])


@pytest.mark.parametrize(
    ("hashed", "partial", "full"),
    [
        (lambda: hash_password(PW, 4), "kept", "rehashed"),  # other cost
        (lambda: "$2b$" + hash_password(PW, 5)[4:], "kept", "rehashed"),  # other ident
        (lambda: "$2a$" + hash_password(PW, 5)[4:], "kept", "rehashed"),
        (lambda: hash_password(PW, 5), "kept", "kept"),
        (lambda: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "rehashed", "rehashed"),
        (lambda: "$apr1$abcdefgh$0123456789abcdefghijkl", "rehashed", "rehashed"),
    ],
)
def test_plan_modes(hashed, partial, full):
    current = "alice:%s\n" % hashed()
    assert actions(plan(users(("alice", PW)), current, 5, "partial_idempotence")) == [("alice", partial)]
    assert actions(plan(users(("alice", PW)), current, 5, "full_idempotence")) == [("alice", full)]
    assert actions(plan(users(("alice", PW)), current, 5, "always")) == [("alice", "rehashed")]


def test_plan_removes_unknown_users_last_in_file_order():
    current = "zed:{SHA}x\nalice:%s\nbob:{SHA}y\n" % hash_password(PW, 5)
    p = plan(users(("carol", PW), ("alice", PW)), current, 5, hasher=fake_hasher)
    assert actions(p) == [("carol", "created"), ("alice", "kept"), ("zed", "removed"), ("bob", "removed")]
    assert p.order == ["carol", "alice"] and set(p.lines) == {"carol"}
    assert p.changed
    assert set(p.before) == {"zed", "alice", "bob"} and set(p.after) == {"carol", "alice"}


def test_plan_duplicate_lines_are_rewritten():
    line = "alice:" + hash_password(PW, 5)
    p = plan(users(("alice", PW)), line + "\n" + line + "\n", 5, hasher=fake_hasher)
    assert actions(p) == [("alice", "rehashed")]
    assert p.before["alice"].endswith("(2 lines)")
    assert any("several lines" in w for w in p.warnings)


def test_plan_crlf_line_is_rehashed():
    p = plan(users(("alice", PW)), "alice:" + hash_password(PW, 5) + "\r\n", 5, hasher=fake_hasher)
    assert actions(p) == [("alice", "rehashed")]


@pytest.mark.parametrize(
    "layout",
    [
        "{a}",  # no final newline
        "{a}\n\n",  # blank line
        "\n{a}\n",
        "# users\n{a}\n",  # comment
        "junk\n{a}\n",  # line without ':'
        "{b}\n{a}\n",  # order differs from users
    ],
)
def test_plan_layout_only_changes(layout):
    a = "alice:" + hash_password(PW, 5)
    b = "bob:" + hash_password(PW, 5)
    wanted = users(("alice", PW), ("bob", PW)) if "{b}" in layout else users(("alice", PW))
    current = layout.format(a=a, b=b)
    p = plan(wanted, current, 5)
    assert all(u["action"] == "kept" for u in p.users)
    assert p.changed and p.reformatted and p.lines == {}
    expected = "".join(line + "\n" for line in ([a, b] if "{b}" in layout else [a]))
    assert assemble(current, p.order, p.lines) == expected
    if "#" in layout or "junk" in layout:
        assert p.warnings and "line(s)" in p.warnings[0]
        assert "junk" not in p.warnings[0] and "users" not in p.warnings[0]


def test_plan_unknown_mode():
    with pytest.raises(ValueError):
        plan(users(("alice", PW)), "", 5, "never")


def test_plan_resalt():
    p = plan(users(("alice", PW)), "", 4)
    before = p.lines["alice"]
    p.resalt("alice")
    assert p.lines["alice"] != before and verify(PW, p.lines["alice"].split(":", 1)[1])
    with pytest.raises(KeyError):
        p.resalt("nobody")


@pytest.mark.parametrize("mode", ["partial_idempotence", "full_idempotence"])
@pytest.mark.parametrize("cost", [3, 18, 31])
def test_plan_never_runs_bcrypt_on_a_cost_outside_4_to_17(monkeypatch, mode, cost):
    """A stored line with cost 31 would take days to verify: it is rehashed without being verified."""
    hostile = "alice:$2y$%02d$%s\n" % (cost, "N" * 53)
    verified = []
    real_checkpw = bcrypt.checkpw

    def spy(password, hashed):
        verified.append(hashed[:7])  # and do not run it: on the code before the fix this would stall for days
        return False if int(hashed[4:6]) > 17 or int(hashed[4:6]) < 4 else real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    p = plan(users(("alice", PW)), hostile, 5, mode)
    assert actions(p) == [("alice", "rehashed")]
    assert verified == []
    assert verify(PW, hostile.strip().split(":", 1)[1]) is False and verified == []


def test_plan_compares_ident_and_cost_before_verifying(monkeypatch):
    """full_idempotence: a line at another cost is rehashed without running bcrypt on it."""
    line = "alice:" + hash_password(PW, 6) + "\n"
    calls = []
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: calls.append(hashed) or True)
    assert actions(plan(users(("alice", PW)), line, 5, "full_idempotence")) == [("alice", "rehashed")]
    assert calls == []
