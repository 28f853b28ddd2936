"""Writes that cannot destroy: a lost create race and a wrong-type delete, forced deterministically.

The test callback hardening_hooks runs a command when the role's task CHECK_THE_PLAN ("Check that every Secret can be
made and may be written") starts - after the role read the cluster, before it writes - so another writer can act
exactly in that window.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from hardening_support import delta, env_with_callback, failure_text, find_leaks, secret_values, writes_by_code

from helpers.kube import delete_namespace, kubectl
from helpers.role_tasks import CHECK_THE_PLAN
from helpers.secret_data import dec
from helpers.site import SECRET_NAMES, looped_include_play, make_inputs, read_secrets, run_playbook, run_site

pytestmark = pytest.mark.integration


def hook(tmp_path, *commands: list[str]) -> dict:
    return env_with_callback(
        HARDENING_HOOK_TASK=CHECK_THE_PLAN,
        HARDENING_HOOK_CMDS=json.dumps(list(commands)),
        HARDENING_HOOK_LOG=str(tmp_path / "hook.log"),
    )


def hook_ran(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "hook.log").read_text().splitlines()]


def opaque_tls_recreated_in_the_window(kubeconfig: str, namespace: str) -> list[list[str]]:
    """Namespace with an Opaque devpi-tls (marker=first), and the hook commands that delete it and create it again
    (marker=recreated) between the role's read and its writes."""
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    base = ["kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace]
    kubectl("-n", namespace, "create", "secret", "generic", "devpi-tls", "--from-literal=marker=first",
            kubeconfig=kubeconfig)  # fmt: skip
    return [
        [*base, "delete", "secret", "devpi-tls"],
        [*base, "create", "secret", "generic", "devpi-tls", "--from-literal=marker=recreated"],
    ]


def test_a_lost_create_race_brings_the_winner_to_the_inputs_in_the_same_run(kubeconfig, namespace, tmp_path):
    """Another writer creates devpi-oauth2-proxy-secret between the role's read and its create, with another
    client ID and secret and a valid cookie-secret of its own: the role's create must not win silently nor overwrite
    the winner's generated value - it brings the user-supplied keys to the inputs and keeps the cookie-secret."""
    inputs = make_inputs(tmp_path / "in")
    kubectl("create", "namespace", namespace, kubeconfig=kubeconfig)
    winner_cookie = base64.urlsafe_b64encode(os.urandom(32)).decode()
    create = [
        "kubectl", f"--kubeconfig={kubeconfig}", "-n", namespace, "create", "secret", "generic",
        "devpi-oauth2-proxy-secret", "--from-literal=client-id=someone-else", "--from-literal=client-secret=theirs",
        f"--from-literal=cookie-secret={winner_cookie}",
    ]  # fmt: skip
    before = writes_by_code(kubeconfig)
    run = run_site(kubeconfig, namespace, inputs, "-vvv", "--diff", env=hook(tmp_path, create))
    writes = delta(before, writes_by_code(kubeconfig))
    print(f"\n[hardening] lost create race: rc={run.rc}, hook={hook_ran(tmp_path)}, writes={writes}")
    assert hook_ran(tmp_path)[0]["rc"] == 0
    assert run.rc == 0, failure_text(run.output)[-3000:]
    guard = writes.get(("POST", "secrets", "409"), 0) + writes.get(("PATCH", "secrets", "422"), 0)
    assert guard >= 1, f"the create guard did not act: {writes}"
    oauth = read_secrets(kubeconfig, namespace)["devpi-oauth2-proxy-secret"]
    assert dec(oauth, "client-id") == b"theedgeworks" and dec(oauth, "client-secret").decode() == inputs.client_secret
    assert dec(oauth, "cookie-secret").decode() == winner_cookie, "the winner's generated value was replaced"
    entry = next(item for item in run.report if item["name"] == "devpi-oauth2-proxy-secret")
    assert entry["action"] == "updated" and "concurrent run" in entry["note"], entry
    assert find_leaks(run.output, secret_values(read_secrets(kubeconfig, namespace))) == []


def test_a_wrong_type_secret_recreated_meanwhile_is_not_deleted(kubeconfig, namespace, tmp_path):
    """devpi-tls is Opaque (wrong type) and the role may replace it; between its read and its delete, someone deletes
    and recreates it. The delete carries the uid and resourceVersion read, so it is refused and the new one stays."""
    inputs = make_inputs(tmp_path / "in")
    recreate = opaque_tls_recreated_in_the_window(kubeconfig, namespace)
    run = run_site(
        kubeconfig, namespace, inputs, extra={"devpi_secrets_replace_wrong_type": True}, env=hook(tmp_path, *recreate)
    )
    message = failure_text(run.output)
    print(f"\n[hardening] wrong-type delete race: rc={run.rc}, hook={[h['rc'] for h in hook_ran(tmp_path)]}")
    assert [h["rc"] for h in hook_ran(tmp_path)] == [0, 0]
    tls = read_secrets(kubeconfig, namespace)["devpi-tls"]
    assert dec(tls, "marker") == b"recreated", "the Secret recreated meanwhile was deleted"
    assert run.rc != 0 and "devpi-tls" in message and "recondition" in message, message[-3000:]


def test_a_refused_delete_is_not_reported_again_by_the_next_inclusion_of_the_role(kubeconfig, namespace, tmp_path):
    """A play that loops include_role over two namespaces and goes on past a failed one (apply: ignore_errors). In the
    first, a wrong-type delete is refused (the Secret was recreated meanwhile, as above); the second namespace needs
    no write. Its outcome must not be built from the first inclusion's registered results: no error, nothing failed."""
    inputs = make_inputs(tmp_path / "in")
    prepared = namespace + "-b"
    assert run_site(kubeconfig, prepared, inputs).rc == 0
    recreate = opaque_tls_recreated_in_the_window(kubeconfig, namespace)
    out = tmp_path / "reports.json"
    play = looped_include_play([namespace, prepared], out, apply={"ignore_errors": True})
    (tmp_path / "twice.yml").write_text(json.dumps(play))
    variables = dict(inputs.vars(kubeconfig, "unused"), devpi_secrets_replace_wrong_type=True)
    variables.pop("devpi_secrets_namespace")
    try:
        run = run_playbook(str(tmp_path / "twice.yml"), variables, tmp_path, env=hook(tmp_path, *recreate))
        print(f"\n[hardening] refused delete, then a namespace with nothing to do: rc={run.rc}, recap={run.recap}")
        assert [h["rc"] for h in hook_ran(tmp_path)] == [0, 0]
        assert run.rc == 0, failure_text(run.output)[-3000:]
        assert dec(read_secrets(kubeconfig, namespace)["devpi-tls"], "marker") == b"recreated"
        # the first inclusion's refusal: its WRITE_REFUSED task, ignored (the no_log delete itself does
        # not fail: failed_when: false, see write.yml)
        assert run.recap["ignored"] == 1, run.recap
        last = json.loads(out.read_text())
        assert last["errors"] == [], last["errors"]
        assert {item["name"]: item["action"] for item in last["report"]} == dict.fromkeys(SECRET_NAMES, "kept")
        assert not any("error" in item for item in last["report"]), last["report"]
    finally:
        delete_namespace(prepared, kubeconfig=kubeconfig, timeout=120)
