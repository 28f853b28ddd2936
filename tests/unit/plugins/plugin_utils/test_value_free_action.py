"""An exception inside one of the collection's action plugins becomes a failure without its text.

Run in a child Python: importing Ansible's controller side (ActionBase) switches ansible-core 2.19+ module warnings
to the controller's display for the whole process, which the module tests of this folder's neighbours read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

COLLECTIONS_DIR = Path(__file__).resolve().parents[4] / ".collections"  # see tests/unit/conftest.py

SCRIPT = textwrap.dedent(
    """
    import json, types
    from ansible.errors import AnsibleActionFail
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._controller_module import ValueFreeAction
    from ansible_collections.theedgeworks.devpi.plugins.action import htpasswd_bcrypt, random_b64
    from ansible_collections.theedgeworks.devpi.plugins.action import _plan as plan_step

    class Raising(ValueFreeAction):
        error = ValueError("cannot hash password b'boom-secret-value'")

        def run(self, tmp=None, task_vars=None):
            raise self.error

    class Failing(Raising):
        error = AnsibleActionFail("a message of the plugin's own")

    def call(cls):
        action = cls.__new__(cls)  # no ActionBase.__init__: run needs only the task's action name
        action._task = types.SimpleNamespace(action="theedgeworks.devpi.htpasswd_bcrypt")
        try:
            return action.run(task_vars={})
        except AnsibleActionFail as e:
            return {"raised": type(e).__name__}

    print(json.dumps({
        "result": call(Raising),
        "control_flow": call(Failing),
        "guarded": [getattr(m.ActionModule.run, "_value_free", False) and issubclass(m.ActionModule, ValueFreeAction)
                    for m in (plan_step, htpasswd_bcrypt, random_b64)],
    }))
    """
)


def test_the_exception_text_never_reaches_the_result():
    env = {"PYTHONPATH": str(COLLECTIONS_DIR), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    out = json.loads(proc.stdout)
    result = out["result"]
    assert result["failed"] is True and "exception" not in result
    assert "boom-secret-value" not in json.dumps(result)
    assert result["msg"].startswith("theedgeworks.devpi.htpasswd_bcrypt failed: ValueError in <string>:"), result
    assert out["control_flow"] == {"raised": "AnsibleActionFail"}  # Ansible's own control flow passes through
    assert out["guarded"] == [True, True, True]  # the plan step, htpasswd_bcrypt, random_b64
