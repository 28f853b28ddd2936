"""The role's meta/argument_specs.yml: every public variable documented there, and no `no_log` pretending to help.

ansible-core's role argument validation does not honour `no_log` in a spec: whether a failing value is echoed does
not depend on it (measured below, on every ansible-core of the matrix). The role's secret variables are strings,
which never fail that validation (any value converts to a string); their real checks are in the plan step
(plugin_utils/_inputs.py), whose messages carry no value.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "devpi_secrets"
OPTIONS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def test_no_log_in_a_role_argument_spec_changes_nothing(tmp_path):
    """Two options failing the same rule, one with no_log: the error shows both values or neither.

    Measured: 2.17 echoes neither value of a failed type conversion and both of a failed choice; 2.18 to 2.21 echo
    both in both cases. no_log never makes the difference.
    """
    spec = {
        name: {"type": "str", "choices": ["x"], **extra}
        for name, extra in (("masked", {"no_log": True}), ("plain", {}))
    }
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.validate_argument_spec": {"argument_spec": spec},
        "vars": {"masked": "value-with-no_log", "plain": "value-without"},
    }]}]  # fmt: skip
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(tmp_path / "play.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert ("value-with-no_log" in output) == ("value-without" in output)


def test_argument_specs_has_no_no_log():
    assert [name for name, spec in OPTIONS.items() if "no_log" in spec] == []


def test_every_default_is_documented_with_the_same_value():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name, value in defaults.items():
        assert name in OPTIONS, f"{name} is not in meta/argument_specs.yml"
        assert OPTIONS[name].get("default") == value, name
    for name, spec in OPTIONS.items():
        assert name.startswith("devpi_secrets_"), name
        assert "required" in spec or name in defaults, f"{name}: neither required, optional nor defaulted"
