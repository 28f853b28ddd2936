"""The role's facts that held values are emptied at its end: a later play cannot print them through `hostvars`.

A bootstrap playbook often includes the role and goes on with other plays; one `debug: var=hostvars` there (or an
AWX job's fact cache) would otherwise print the Secrets' data the role read, planned and wrote.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hardening_support import find_leaks, secret_values

from helpers.site import make_inputs, read_secrets, run_playbook

pytestmark = pytest.mark.integration


def test_no_value_is_left_in_the_role_s_facts(kubeconfig, namespace, tmp_path):
    inputs = make_inputs(tmp_path / "inputs")
    dump = tmp_path / "facts.json"
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "roles": ["theedgeworks.devpi.devpi_secrets"],
        },
        {
            "name": "A later play that dumps what the role left",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.copy": {
                        "content": "{{ hostvars['localhost'] | dict2items"
                        " | selectattr('key', 'match', '_+devpi_secrets') | items2dict | to_json }}",
                        "dest": str(dump),
                        "mode": "0600",
                    }
                }
            ],
        },
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    run = run_playbook(str(playbook), inputs.vars(kubeconfig, namespace), tmp_path / "work")
    assert run.rc == 0, run.output[-3000:]
    left = json.loads(dump.read_text())
    assert "_devpi_secrets_outcome" in left  # the value-free outcome stays (tests and reports read it)
    needles = secret_values(read_secrets(kubeconfig, namespace))
    needles.update({f"made by the run #{n}": v for n, v in enumerate(run.values) if len(v) >= 12})
    assert find_leaks(dump.read_text(), needles) == []
