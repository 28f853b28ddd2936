"""The task names the tests hook (helpers/role_tasks.py) are names of the role's tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import role_tasks

TASKS = Path(__file__).resolve().parents[3] / "roles" / "devpi_secrets" / "tasks"


def task_names(tasks: list) -> set[str]:
    """The `name:` of every task of a task file, those inside block/rescue/always too."""
    names = set()
    for task in tasks or []:
        if isinstance(task.get("name"), str):
            names.add(task["name"])
        for section in ("block", "rescue", "always"):
            names |= task_names(task.get(section))
    return names


ROLE_TASK_NAMES = set().union(*(task_names(yaml.safe_load(path.read_text())) for path in sorted(TASKS.glob("*.yml"))))


@pytest.mark.parametrize("name", role_tasks.HOOKED)
def test_a_hooked_task_name_is_a_task_of_the_role(name):
    assert name in ROLE_TASK_NAMES, f"no task of {TASKS} is named {name!r}: the hook on it would never run"


def test_every_constant_is_hooked():
    constants = {v for k, v in vars(role_tasks).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(role_tasks.HOOKED)
