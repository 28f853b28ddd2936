"""The one rule book: each input rule accepts what its consumer accepts and names the problem without the value."""

from __future__ import annotations

import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils import rules


@pytest.mark.parametrize(
    "name,problem",
    [
        ("pypi-user", None),
        ("é" * 127, None),  # 254 bytes
        ("é" * 128, "is 256 bytes long"),
        ("", "non-empty"),
        ("#pypi", "must not start with '#'"),
        ("py:pi", "':'"),
        ("py\tpi", "control character"),
        ("py\x00pi", "control character"),
        ("py\npi", "line break"),
        ("pypi\u2028", "line break"),
        (" pypi", "white space"),
        ("pypi ", "white space"),
        (None, "non-empty string"),
    ],
)
def test_htpasswd_user(name, problem):
    got = rules.htpasswd_user_problem(name)
    if problem is None:
        assert got is None
    else:
        assert problem in got


@pytest.mark.parametrize(
    "password,problem",
    [
        ("x", None),
        ("é" * 36, None),  # 72 bytes
        ("é" * 37, "74 bytes long"),
        ("", "1 to 72 bytes long, got an empty string"),
        ("a\nb", "NUL, CR or LF"),
        ("a\x00b", "NUL, CR or LF"),
        ("tab\tis fine", None),
    ],
)
def test_htpasswd_password(password, problem):
    got = rules.htpasswd_password_problem(password)
    assert (got is None) if problem is None else (problem in got)
    if got:
        assert password not in got or password == ""


@pytest.mark.parametrize("cost,ok", [(4, True), (17, True), (3, False), (18, False), (True, False), ("5", False)])
def test_bcrypt_cost(cost, ok):
    assert (rules.bcrypt_cost_problem(cost) is None) == ok


@pytest.mark.parametrize(
    "name,ok", [("devpi", True), ("d" * 63, True), ("d" * 64, False), ("Devpi", False), ("-devpi", False), ("", False)]
)
def test_namespace(name, ok):
    assert (rules.dns_label_problem(name) is None) == ok


@pytest.mark.parametrize(
    "host,ok", [("pypi.theedgeworks.ai", True), ("pypi", False), ("PYPI.theedgeworks.ai", False), ("a..b", False)]
)
def test_host(host, ok):
    assert (rules.host_name_problem(host) is None) == ok


def test_labels():
    assert rules.label_problems({"team": "platform", "example.com/tier": "", "a": "b.c-d_e"}) == []
    problems = rules.label_problems({"bad key!": "x", "ok": 5, "Bad_Prefix/x": "y", "v": "-x", "long": "x" * 64})
    assert len(problems) == 5
    assert rules.label_problems(["not", "a", "dict"]) == ["must be a mapping of label names to values"]


@pytest.mark.parametrize(
    "value,problem",
    [("s3cr3t", None), ("", "non-empty"), ("  ", "non-empty"), (" s3cr3t", "white space"), ("s3\ncr3t", "line break")],
)
def test_token(value, problem):
    got = rules.token_problem(value)
    assert (got is None) if problem is None else (problem in got)
    if got and value.strip():
        assert value.strip() not in got
