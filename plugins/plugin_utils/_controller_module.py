# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Run a module's body inside its action plugin, in the controller process: no module launch.

A module of this collection keeps its argument spec and body in ``plugins/module_utils/<module>.py`` as
``ARGUMENT_SPEC`` and ``run(module)``. The module file wraps them in ``AnsibleModule`` (for ansible-doc and any use
outside an action); the action plugin of the same name wraps them in ``ControllerModule`` below, which offers the
part of ``AnsibleModule`` the bodies use (``params``, ``check_mode``, ``_diff``, ``no_log_values``, ``warn``,
``fail_json``, ``exit_json``) and treats the result as ``AnsibleModule`` does: values equal to a ``no_log`` input are
masked, so a body behaves the same in both places.
"""

from __future__ import annotations

import functools
import os
import traceback

from ansible.errors import AnsibleAction
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase


class _ModuleExit(Exception):
    def __init__(self, result):
        super().__init__("module exit")
        self.result = result


class ControllerModule:
    """The subset of AnsibleModule that this collection's module bodies use."""

    def __init__(self, args, argument_spec, check_mode, diff):
        self.check_mode = bool(check_mode)
        self._diff = bool(diff)
        self._warnings = []
        validation = ArgumentSpecValidator(argument_spec).validate(dict(args))
        self.params = validation.validated_parameters
        # ansible-core keeps the collected no_log values on the validation result (as AnsibleModule reads them).
        self.no_log_values = set(getattr(validation, "_no_log_values", set()))
        if validation.error_messages:
            self.fail_json(msg="; ".join(str(m) for m in validation.error_messages))

    def warn(self, warning):
        self._warnings.append(str(warning))

    def fail_json(self, msg, **kwargs):
        kwargs["failed"] = True
        kwargs["msg"] = msg
        raise _ModuleExit(kwargs)

    def exit_json(self, **kwargs):
        raise _ModuleExit(kwargs)

    @classmethod
    def run_body(cls, args, argument_spec, check_mode, diff, body):
        """The result of ``body`` run on ``args`` as an action plugin runs it: arguments checked, result masked."""
        try:
            module = cls(args, argument_spec, check_mode, diff)
        except _ModuleExit as invalid:
            return dict(invalid.result, changed=False)
        return module.finish(body)

    def finish(self, body):
        """Run ``body(self)`` and return its result, masked like AnsibleModule's, with the warnings."""
        try:
            body(self)
        except _ModuleExit as done:
            result = done.result
        else:  # pragma: no cover - a body always ends with exit_json or fail_json
            result = {"failed": True, "msg": "the module ended without a result"}
        result.setdefault("changed", False)
        result = remove_values(result, self.no_log_values)
        if self._warnings:
            result["warnings"] = list(result.get("warnings") or []) + self._warnings
        return result


def value_free_failure(action, error):
    """A task result for an exception raised inside ``action``: its type and where, never its text.

    A library may quote its input in an exception (bcrypt the password it could not hash); Ansible would print the
    text - ansible-core 2.19 and later also for a ``no_log`` task. The innermost frame's file and line say where.
    """
    frames = traceback.extract_tb(error.__traceback__)
    where = " in %s:%s" % (os.path.basename(frames[-1].filename), frames[-1].lineno) if frames else ""
    return {
        "failed": True,
        "changed": False,
        "msg": "%s failed: %s%s (its text is not shown: it may quote a value the task was given)"
        % (action, type(error).__name__, where),
    }


class ValueFreeAction(ActionBase):
    """Base of this collection's action plugins: an exception their ``run`` raises becomes a value-free failure.

    Every ``run`` a subclass defines is wrapped (``__init_subclass__``); Ansible's own control-flow exceptions
    (``AnsibleAction``: skip, fail with a message of the plugin's) pass through.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get("run")
        if run is None or getattr(run, "_value_free", False):
            return

        @functools.wraps(run)
        def guarded(self, tmp=None, task_vars=None):
            try:
                return run(self, tmp, task_vars)
            except AnsibleAction:
                raise
            except Exception as error:  # noqa: BLE001 - any library error: its text may hold a value
                return value_free_failure(self._task.action, error)

        guarded._value_free = True
        cls.run = guarded


class ControllerModuleAction(ValueFreeAction):
    """Base of the action plugins that run a module body on the controller (set ARGUMENT_SPEC and body)."""

    TRANSFERS_FILES = False
    ARGUMENT_SPEC: dict = {}

    def body(self, module):  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        module = None
        try:
            module = ControllerModule(
                self._task.args, self.ARGUMENT_SPEC, self._play_context.check_mode, self._play_context.diff
            )
        except _ModuleExit as invalid:
            result.update(invalid.result)
            return result
        result.update(module.finish(self.body))
        return result
