"""Cross-check with Apache's own htpasswd (apache2-utils): our lines verify there, and its lines are kept by us.

htpasswd is required: CI installs apache2-utils. A missing binary is a test failure, not a skip.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess

import pytest

from ansible_collections.theedgeworks.devpi.plugins.module_utils.htpasswd import assemble
from ansible_collections.theedgeworks.devpi.plugins.modules import htpasswd_bcrypt

# htpasswd -v exit codes (apache2-utils): 0 ok, 3 password mismatch, 6 no such user.
OK, MISMATCH, NO_SUCH_USER = 0, 3, 6


@pytest.fixture(scope="module")
def htpasswd_bin():
    path = shutil.which("htpasswd")
    if path is None:
        pytest.fail(
            "Apache htpasswd is not installed: install apache2-utils (apt-get install -y apache2-utils); "
            "these cross-checks must not be skipped",
            pytrace=False,
        )
    return path


def check(htpasswd_bin, path, user, password):
    return subprocess.run([htpasswd_bin, "-vb", str(path), user, password], capture_output=True, check=False).returncode


@pytest.mark.parametrize("cost", [4, 5])
def test_our_lines_verify_with_htpasswd(htpasswd_bin, run_module, tmp_path, cost):
    users = [
        {"name": "pypi-user", "password": secrets.token_urlsafe(24)},
        {"name": "ci", "password": "pässwörd with spaces & :colons"},
        {"name": "max", "password": "x" * 72},
    ]
    r = run_module(htpasswd_bcrypt.main, {"users": users, "cost": cost}).result
    path = tmp_path / "auth"
    path.write_text(assemble("", r["order"], r["lines"]), encoding="utf-8")
    for user in users:
        assert check(htpasswd_bin, path, user["name"], user["password"]) == OK
        # Changing the last character must matter, also for the 72nd byte (no silent truncation).
        wrong = user["password"][:-1] + ("y" if user["password"][-1] != "y" else "z")
        assert check(htpasswd_bin, path, user["name"], wrong) == MISMATCH
    assert check(htpasswd_bin, path, "pypi-user", "wrong password") == MISMATCH
    assert check(htpasswd_bin, path, "nobody", "wrong password") == NO_SUCH_USER


def test_htpasswd_line_is_kept(htpasswd_bin, run_module):
    password = secrets.token_urlsafe(24)
    made = subprocess.run(
        [htpasswd_bin, "-nbB", "-C", "5", "pypi-user", password], capture_output=True, text=True, check=True
    ).stdout
    assert made.startswith("pypi-user:$2y$05$")
    current = made.strip() + "\n"
    r = run_module(
        htpasswd_bcrypt.main, {"users": [{"name": "pypi-user", "password": password}], "current": current}
    ).result
    assert r["users"] == [{"name": "pypi-user", "action": "kept"}]
    assert not r["changed"] and r["lines"] == {}
    assert assemble(current, r["order"], r["lines"]) == current


def test_htpasswd_default_output_with_blank_line_is_only_reformatted(htpasswd_bin, run_module):
    # `htpasswd -n` prints the line and a blank line: the user is kept, the layout is normalised.
    password = secrets.token_urlsafe(24)
    made = subprocess.run(
        [htpasswd_bin, "-nbB", "pypi-user", password], capture_output=True, text=True, check=True
    ).stdout
    assert made.endswith("\n\n")
    r = run_module(htpasswd_bcrypt.main, {"users": [{"name": "pypi-user", "password": password}], "current": made})
    assert r.result["users"] == [{"name": "pypi-user", "action": "kept"}]
    assert r.result["changed"] and r.result["reformatted"]
    assert assemble(made, r.result["order"], r.result["lines"]) == made[:-1]


def test_htpasswd_line_with_other_cost_is_rehashed(htpasswd_bin, run_module, tmp_path):
    password = secrets.token_urlsafe(24)
    made = subprocess.run(
        [htpasswd_bin, "-nbB", "-C", "4", "pypi-user", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    r = run_module(htpasswd_bcrypt.main, {"users": [{"name": "pypi-user", "password": password}], "current": made})
    assert r.result["users"] == [{"name": "pypi-user", "action": "rehashed"}]
    path = tmp_path / "auth"
    path.write_text(assemble(made, r.result["order"], r.result["lines"]), encoding="utf-8")
    assert check(htpasswd_bin, path, "pypi-user", password) == OK


def test_htpasswd_md5_line_is_rehashed(htpasswd_bin, run_module):
    password = secrets.token_urlsafe(24)
    made = subprocess.run(
        [htpasswd_bin, "-nbm", "pypi-user", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert made.startswith("pypi-user:$apr1$")
    r = run_module(htpasswd_bcrypt.main, {"users": [{"name": "pypi-user", "password": password}], "current": made})
    assert r.result["users"] == [{"name": "pypi-user", "action": "rehashed"}]
