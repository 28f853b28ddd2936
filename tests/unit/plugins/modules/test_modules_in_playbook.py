"""Both modules under a real ansible-playbook run (localhost, local connection).

Checks what unit runs of main() cannot: the controller's no_log handling of registered results, and the documented
Jinja that assembles the htpasswd file (taken verbatim from the module's EXAMPLES), then Apache htpasswd on the result.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.theedgeworks.devpi.plugins.modules import htpasswd_bcrypt

REPO_ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def documented_assembly_template():
    """The ``htpasswd_content`` template of the EXAMPLES task "Assemble the file content"."""
    for task in yaml.safe_load(htpasswd_bcrypt.EXAMPLES):
        if task.get("name") == "Assemble the file content":
            return task["ansible.builtin.set_fact"]["htpasswd_content"]
    raise AssertionError("EXAMPLES lost the 'Assemble the file content' task")


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Plan the htpasswd lines
      theedgeworks.devpi.htpasswd_bcrypt:
        users: "{{ wanted_users }}"
        current: "{{ current_auth }}"
        cost: 4
      register: htpasswd
      no_log: true

    - name: Assemble the file content
      ansible.builtin.set_fact:
        htpasswd_content: %(template)s
      no_log: true

    - name: Write the file and the registered result
      ansible.builtin.copy:
        content: "{{ item.content }}"
        dest: "{{ out_dir }}/{{ item.name }}"
        mode: "0600"
      loop:
        - {name: auth, content: "{{ htpasswd_content }}"}
        - {name: htpasswd.json, content: "{{ htpasswd | to_json }}"}
        - {name: cookie.json, content: "{{ cookie | to_json }}"}
      loop_control:
        label: "{{ item.name }}"
      no_log: true
      vars:
        cookie: "{{ cookie_secret }}"

  pre_tasks:
    - name: Repair or generate the cookie secret
      theedgeworks.devpi.random_b64:
        alphabet: urlsafe
        current: "{{ current_cookie }}"
      register: cookie_secret
      no_log: true
"""


@pytest.fixture(scope="module")
def htpasswd_bin():
    path = shutil.which("htpasswd")
    if path is None:
        pytest.fail("Apache htpasswd is not installed: install apache2-utils", pytrace=False)
    return path


def run_playbook(tmp_path, extra_vars):
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK % {"template": json.dumps(documented_assembly_template())}, encoding="utf-8")
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(dict(extra_vars, out_dir=str(out_dir))), encoding="utf-8")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"),
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
    )
    proc = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=%s" % sys.executable,
            "-e",
            "@%s" % vars_file,
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {
        "auth": (out_dir / "auth").read_text(encoding="utf-8"),
        "htpasswd": json.loads((out_dir / "htpasswd.json").read_text(encoding="utf-8")),
        "cookie": json.loads((out_dir / "cookie.json").read_text(encoding="utf-8")),
        "output": proc.stdout + proc.stderr,
    }
    return results


def test_playbook_contract(tmp_path, htpasswd_bin):
    keep_pw, new_pw = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    kept_line = subprocess.run(
        [htpasswd_bin, "-nbB", "-C", "4", "keeper", keep_pw], capture_output=True, text=True, check=True
    ).stdout.strip()
    current_auth = "# managed elsewhere\nold:{SHA}abc\n" + kept_line + "\n"
    current_cookie = ""
    while "+" not in current_cookie and "/" not in current_cookie:  # what the seed's b64encode(urandom(32)) made
        current_cookie = base64.b64encode(secrets.token_bytes(32)).decode()
    wanted = [{"name": "newbie", "password": new_pw}, {"name": "keeper", "password": keep_pw}]

    first = run_playbook(
        tmp_path,
        {"wanted_users": wanted, "current_auth": current_auth, "current_cookie": current_cookie},
    )
    # Secrets never reach the playbook output.
    for secret in (keep_pw, new_pw, kept_line.split(":", 1)[1], current_cookie):
        assert secret not in first["output"]
    # The registered results came back unmasked.
    for name in ("htpasswd", "cookie"):
        text = json.dumps(first[name])
        assert "********" not in text and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in text
    h = first["htpasswd"]
    assert [(u["name"], u["action"]) for u in h["users"]] == [
        ("newbie", "created"),
        ("keeper", "kept"),
        ("old", "removed"),
    ]
    # The documented Jinja builds exactly the canonical file.
    auth = first["auth"]
    assert auth.endswith("\n") and auth.count("\n") == 2
    assert auth.split("\n")[1] == kept_line
    path = tmp_path / "auth"
    path.write_text(auth, encoding="utf-8")
    for user in wanted:
        assert (
            subprocess.run([htpasswd_bin, "-vb", str(path), user["name"], user["password"]], check=False).returncode
            == 0
        )
    # The cookie secret was repaired: same bytes, URL-safe.
    c = first["cookie"]
    assert c["repaired"] and not c["generated"]
    assert c["value"] == current_cookie.replace("+", "-").replace("/", "_")

    # A second run over what the first produced changes nothing.
    second = run_playbook(
        tmp_path,
        {"wanted_users": wanted, "current_auth": auth, "current_cookie": c["value"]},
    )
    assert second["htpasswd"]["changed"] is False and second["htpasswd"]["lines"] == {}
    assert second["auth"] == auth
    assert second["cookie"]["changed"] is False and "value" not in second["cookie"]
