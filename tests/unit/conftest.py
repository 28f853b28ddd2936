"""Unit-test setup: make ``ansible_collections.theedgeworks.devpi`` importable from this checkout.

The collection is reached through the git-ignored symlink ``<repo>/.collections/ansible_collections/theedgeworks/devpi``
pointing at the repository root (the same one ``ansible.cfg``'s ``collections_path`` uses). It is created here when
missing, so a fresh clone can run ``python -m pytest tests/unit`` directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_DIR = REPO_ROOT / ".collections"
COLLECTION_LINK = COLLECTIONS_DIR / "ansible_collections" / "theedgeworks" / "devpi"


def _ensure_collection_link():
    if COLLECTION_LINK.is_symlink() or COLLECTION_LINK.exists():
        if COLLECTION_LINK.resolve() != REPO_ROOT:
            raise RuntimeError(
                "%s points to %s, not to this checkout (%s): remove it and run the tests again"
                % (COLLECTION_LINK, COLLECTION_LINK.resolve(), REPO_ROOT)
            )
        return
    COLLECTION_LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(REPO_ROOT), str(COLLECTION_LINK))


_ensure_collection_link()
if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))


class ModuleResult:
    """Outcome of one module run: ``rc`` (0 for exit_json, 1 for fail_json) and the parsed JSON result."""

    def __init__(self, rc, result, stdout):
        self.rc = rc
        self.result = result
        self.stdout = stdout

    @property
    def warnings(self):
        """Warning texts (ansible-core 2.19 returns structured warnings; older releases plain strings)."""
        texts = []
        for warning in self.result.get("warnings") or []:
            if isinstance(warning, dict):
                texts.append(str((warning.get("event") or {}).get("msg", warning)))
            else:
                texts.append(str(warning))
        return texts

    @property
    def failed(self):
        return bool(self.result.get("failed"))

    def __repr__(self):
        return "ModuleResult(rc=%r, result=%r)" % (self.rc, self.result)


def run_module_main(main, args, check_mode=False, diff=False, capsys=None):
    """Run a module's ``main()`` with ``args`` as Ansible would; return a ``ModuleResult``.

    Any exception other than the ``SystemExit`` of ``exit_json``/``fail_json`` propagates (a traceback is a bug).
    """
    from ansible.module_utils.common import warnings as ansible_warnings

    try:
        from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
    except ImportError:  # 2.17, 2.18
        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes

        @contextlib.contextmanager
        def patch_module_args(args):
            old = basic._ANSIBLE_ARGS
            basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
            try:
                yield
            finally:
                basic._ANSIBLE_ARGS = old

    # Warnings and deprecations are process-wide in ansible-core: start every run with none.
    for name in ("_global_warnings", "_global_deprecations"):
        registry = getattr(ansible_warnings, name, None)
        if registry is not None:
            registry.clear()
    module_args = dict(args)
    module_args["_ansible_check_mode"] = check_mode
    module_args["_ansible_diff"] = diff
    if capsys is not None:
        capsys.readouterr()
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as excinfo:
                main()
        stdout = capsys.readouterr().out
    else:
        buffer = io.StringIO()
        with patch_module_args(module_args), contextlib.redirect_stdout(buffer):
            with pytest.raises(SystemExit) as excinfo:
                main()
        stdout = buffer.getvalue()
    result = json.loads(stdout)
    code = excinfo.value.code
    return ModuleResult(0 if code in (None, 0) else code, result, stdout)


@pytest.fixture
def run_module(capsys):
    """``run_module(main, args, check_mode=False, diff=False)`` -> ``ModuleResult``."""

    def _run(main, args, check_mode=False, diff=False):
        return run_module_main(main, args, check_mode=check_mode, diff=diff, capsys=capsys)

    return _run


@pytest.fixture(scope="session")
def module_runner():
    """Like ``run_module`` but session-scoped (captures stdout itself), for hypothesis tests."""

    def _run(main, args, check_mode=False, diff=False):
        return run_module_main(main, args, check_mode=check_mode, diff=diff)

    return _run


def assert_no_secret_in(result_text, secrets):
    """Fail when any secret (or Ansible's masking marks) occurs in the serialized module result."""
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in result_text
    assert "********" not in result_text
    for secret in secrets:
        if secret:
            assert secret not in result_text, "a no_log input occurs in the module result"


@pytest.fixture
def no_secret_in():
    """``no_secret_in(module_result_or_text, secrets)``: assert no secret and no masking mark in the output.

    Ansible replaces a returned string equal to a no_log input by VALUE_SPECIFIED_IN_NO_LOG_PARAMETER and each
    occurrence inside a string by ********, so finding either mark means the module returned a no_log input.
    """

    def _check(output, secrets):
        if isinstance(output, ModuleResult):
            # ``invocation`` echoes the module arguments, no_log ones already replaced by Ansible: not our output.
            text = json.dumps({k: v for k, v in output.result.items() if k != "invocation"}, ensure_ascii=False)
        else:
            text = output
        assert_no_secret_in(text, secrets)

    return _check
