"""Test-only callback: run commands synchronously when a named task starts (deterministic fault injection).

HARDENING_HOOK_TASK  the task name to wait for (suffix match; tests/helpers/role_tasks.py names them)
HARDENING_HOOK_CMDS  JSON list of argv lists, run one after the other before that task runs (once)
HARDENING_HOOK_LOG   optional file: each command's rc and output are appended to it

Callbacks run in the controller's main process before the task is queued, so whatever the commands do happens
after every task before it (the role's read of the cluster) and before the task itself (and the writes after it).
"""

from __future__ import annotations

import json
import os
import subprocess

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: hardening_hooks
type: aggregate
short_description: run commands when a named task starts (tests only)
description: Test-only fault injection (tests/hardening, tests/integration).
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hardening_hooks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._done = False

    def v2_playbook_on_task_start(self, task, is_conditional):
        wanted = os.environ.get("HARDENING_HOOK_TASK")
        if self._done or not wanted or not task.get_name().endswith(wanted):
            return
        self._done = True
        log = os.environ.get("HARDENING_HOOK_LOG")
        for argv in json.loads(os.environ.get("HARDENING_HOOK_CMDS", "[]")):
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
            if log:
                with open(log, "a") as fh:
                    fh.write(json.dumps({"argv": argv, "rc": proc.returncode, "out": proc.stdout + proc.stderr}) + "\n")
