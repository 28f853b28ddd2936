"""Which workloads read which Secret, the restart patch, and the mounts devpi-server refuses
(plugin_utils/_consumers.py) - and how the plan step and the outcome use them (_plan.py, _write_outcome.py)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _consumers
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._write_outcome import restart_outcome, secret_report

GOOD_VOLUME = {"name": "s", "secret": {"secretName": "devpi-secret", "defaultMode": 0o400}}
GOOD_MOUNT = {"name": "s", "mountPath": "/run/devpi/secret", "subPath": "secret", "readOnly": True}


def workload(kind="Deployment", name="w", volumes=(), containers=(), init=(), security=None):
    pod = {"containers": list(containers) or [{"name": "main", "image": "i"}]}
    if volumes:
        pod["volumes"] = list(volumes)
    if init:
        pod["initContainers"] = list(init)
    if security is not None:
        pod["securityContext"] = security
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": {"template": {"spec": pod}}}


def container(name="main", **extra):
    return {"name": name, "image": "i", **extra}


# --------------------------------------------------------------------------- references


def test_secret_volume_is_a_reference():
    assert _consumers.references(workload(volumes=[GOOD_VOLUME])) == {"devpi-secret": ["volume"]}


def test_projected_secret_source_is_a_reference_and_other_sources_are_not():
    volume = {"name": "p", "projected": {"sources": [
        {"configMap": {"name": "devpi-tls"}},
        {"secret": {"name": "devpi-oauth2-proxy-secret", "items": [{"key": "cookie-secret", "path": "c"}]}},
        {"serviceAccountToken": {"path": "token"}},
    ]}}  # fmt: skip
    assert _consumers.references(workload(volumes=[volume])) == {"devpi-oauth2-proxy-secret": ["projected"]}


def test_env_secret_key_ref_in_an_init_container_is_a_reference():
    env = [{"name": "A", "value": "plain"},
           {"name": "B", "valueFrom": {"secretKeyRef": {"name": "devpi-secret", "key": "secret"}}},
           {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "devpi-tls", "key": "x"}}}]  # fmt: skip
    assert _consumers.references(workload(init=[container("init", env=env)])) == {"devpi-secret": ["env"]}


def test_env_from_secret_ref_is_a_reference_and_config_map_ref_is_not():
    env_from = [{"secretRef": {"name": "devpi-basic-auth"}}, {"configMapRef": {"name": "devpi-secret"}}]
    assert _consumers.references(workload(containers=[container(envFrom=env_from)])) == {
        "devpi-basic-auth": ["envFrom"]
    }


def test_every_way_is_listed_once_in_a_fixed_order():
    env = [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "devpi-secret", "key": "secret"}}}]
    wl = workload(
        volumes=[GOOD_VOLUME, {"name": "p", "projected": {"sources": [{"secret": {"name": "devpi-secret"}}]}}],
        containers=[container(env=env, envFrom=[{"secretRef": {"name": "devpi-secret"}}]), container("b", env=env)],
    )
    assert _consumers.references(wl) == {"devpi-secret": ["volume", "projected", "env", "envFrom"]}


def test_a_workload_that_references_nothing_and_a_malformed_one():
    assert _consumers.references(workload(volumes=[{"name": "e", "emptyDir": {}}])) == {}
    assert _consumers.references({"kind": "Deployment", "metadata": {"name": "x"}}) == {}
    assert _consumers.references({"spec": {"template": {"spec": {"containers": [None], "volumes": [None]}}}}) == {}


# --------------------------------------------------------------------------- mounts devpi-server refuses


def problems(wl):
    return sorted((p["container"], p["problem"]) for p in _consumers.mount_problems(wl))


def test_subpath_0400_without_fsgroup_is_fine():
    assert problems(workload(volumes=[GOOD_VOLUME], containers=[container(volumeMounts=[GOOD_MOUNT])])) == []


def test_whole_volume_with_the_default_mode_is_two_problems():
    wl = workload(volumes=[{"name": "s", "secret": {"secretName": "devpi-secret"}}],
                  containers=[container("devpi", volumeMounts=[{"name": "s", "mountPath": "/run/devpi"}])])  # fmt: skip
    assert problems(wl) == [("devpi", "mode"), ("devpi", "no-subpath")]
    found = {p["problem"]: p["detail"] for p in _consumers.mount_problems(wl)}
    assert "0644" in found["mode"]


@pytest.mark.parametrize("mode,bad", [(0o400, False), (0o600, False), (0o440, True), (0o444, True), (0o604, True)])
def test_default_mode_with_group_or_other_bits(mode, bad):
    volume = {"name": "s", "secret": {"secretName": "devpi-secret", "defaultMode": mode}}
    wl = workload(volumes=[volume], containers=[container(volumeMounts=[GOOD_MOUNT])])
    assert problems(wl) == ([("main", "mode")] if bad else [])


def test_the_items_mode_wins_over_the_default_mode():
    volume = {"name": "s", "secret": {"secretName": "devpi-secret", "defaultMode": 0o400,
                                      "items": [{"key": "secret", "path": "secret", "mode": 0o644}]}}  # fmt: skip
    assert problems(workload(volumes=[volume], containers=[container(volumeMounts=[GOOD_MOUNT])])) == [("main", "mode")]
    volume["secret"]["items"][0]["mode"] = 0o400
    volume["secret"]["defaultMode"] = 0o644
    assert problems(workload(volumes=[volume], containers=[container(volumeMounts=[GOOD_MOUNT])])) == []


def test_a_projected_volume_uses_its_own_default_mode():
    volume = {"name": "s", "projected": {"defaultMode": 0o440, "sources": [{"secret": {"name": "devpi-secret"}}]}}
    assert problems(workload(volumes=[volume], containers=[container(volumeMounts=[GOOD_MOUNT])])) == [("main", "mode")]


def test_an_fsgroup_on_the_pod_applies_to_the_mount():
    wl = workload(volumes=[GOOD_VOLUME], containers=[container(volumeMounts=[GOOD_MOUNT])], security={"fsGroup": 1000})
    assert problems(wl) == [("main", "fsgroup")]
    without = workload(volumes=[GOOD_VOLUME], containers=[container(volumeMounts=[GOOD_MOUNT])],
                       security={"runAsUser": 1000})  # fmt: skip
    assert problems(without) == []


def test_only_containers_that_mount_it_and_only_devpi_secret_count():
    other = {"name": "o", "secret": {"secretName": "devpi-tls"}}
    wl = workload(
        volumes=[GOOD_VOLUME, other],
        containers=[container("a", volumeMounts=[{"name": "o", "mountPath": "/tls"}]), container("b")],
        init=[container("init", volumeMounts=[{"name": "s", "mountPath": "/copy"}])],
        security={"fsGroup": 2},
    )
    assert problems(wl) == [("init", "fsgroup"), ("init", "no-subpath")]


def test_a_volume_whose_items_leave_out_the_key_is_not_a_mount_of_it():
    volume = {"name": "s", "secret": {"secretName": "devpi-secret", "items": [{"key": "other", "path": "o"}]}}
    wl = workload(volumes=[volume], containers=[container(volumeMounts=[GOOD_MOUNT])])
    assert problems(wl) == []


def test_mount_warnings_name_workload_container_and_secret():
    summaries = [_consumers.summarize(workload("StatefulSet", "devpi", volumes=[GOOD_VOLUME],
                                               containers=[container("server", volumeMounts=[GOOD_MOUNT])],
                                               security={"fsGroup": 7}))]  # fmt: skip
    (warning,) = _consumers.mount_warnings(summaries, "ns")
    assert {k: warning[k] for k in ("kind", "name", "container", "secret", "problem")} == {
        "kind": "StatefulSet", "name": "devpi", "container": "server", "secret": "devpi-secret", "problem": "fsgroup"
    }  # fmt: skip
    for word in ("StatefulSet ns/devpi", "container server", "devpi-secret", "fsGroup 7"):
        assert word in warning["message"]


# --------------------------------------------------------------------------- restarts


def test_restart_patch_is_what_kubectl_rollout_restart_sends():
    patch = _consumers.restart_patch("DaemonSet", "d", "ns", "2026-12-03T08:00:00Z")
    assert patch == {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {"template": {"metadata": {"annotations": {_consumers.RESTARTED_AT: "2026-12-03T08:00:00Z"}}}},
    }


def test_now_is_rfc3339_utc():
    fixed = datetime.datetime(2026, 12, 3, 9, 30, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert _consumers.now_rfc3339(lambda: fixed) == "2026-12-03T08:30:05Z"
    assert datetime.datetime.strptime(_consumers.now_rfc3339(), "%Y-%m-%dT%H:%M:%SZ")


def _summaries():
    env = [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "devpi-secret", "key": "secret"}}}]
    objs = [
        workload("Deployment", "z-dep", volumes=[GOOD_VOLUME], containers=[container(volumeMounts=[GOOD_MOUNT])]),
        workload(
            "DaemonSet", "ds", containers=[container(env=env, envFrom=[{"secretRef": {"name": "devpi-basic-auth"}}])]
        ),
        workload(
            "StatefulSet",
            "sts",
            volumes=[{"name": "p", "projected": {"sources": [{"secret": {"name": "devpi-oauth2-proxy-secret"}}]}}],
        ),  # fmt: skip
        workload("Deployment", "a-none"),
        {"kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {"template": {"spec": {"volumes": [GOOD_VOLUME]}}}},
    ]
    return [_consumers.summarize(obj) for obj in objs]


def test_restarts_only_the_workloads_that_read_a_changed_secret_in_a_fixed_order():
    out = _consumers.restarts(_summaries(), ["devpi-secret"], "ns", "T")
    assert [(r["kind"], r["name"], r["secrets"], r["ways"]) for r in out] == [
        ("Deployment", "z-dep", ["devpi-secret"], ["volume"]),
        ("DaemonSet", "ds", ["devpi-secret"], ["env"]),
    ]
    assert out[0]["patch"]["metadata"] == {"name": "z-dep", "namespace": "ns"}


def test_nothing_changed_restarts_nothing_and_several_secrets_restart_a_workload_once():
    assert _consumers.restarts(_summaries(), [], "ns", "T") == []
    out = _consumers.restarts(_summaries(), ["devpi-secret", "devpi-basic-auth"], "ns", "T")
    assert [(r["name"], r["secrets"], r["ways"]) for r in out] == [
        ("z-dep", ["devpi-secret"], ["volume"]),
        ("ds", ["devpi-basic-auth", "devpi-secret"], ["env", "envFrom"]),
    ]


def test_due_restarts_need_a_written_secret():
    planned = _consumers.restarts(_summaries(), ["devpi-secret", "devpi-oauth2-proxy-secret"], "ns", "T")
    assert [r["name"] for r in _consumers.due_restarts(planned, ["devpi-oauth2-proxy-secret"])] == ["sts"]
    assert _consumers.due_restarts(planned, []) == []


# --------------------------------------------------------------------------- the plan and the outcome


def test_the_outcome_keeps_the_restarts_of_the_secrets_written_only():
    planned = _consumers.restarts(_summaries(), ["devpi-secret", "devpi-oauth2-proxy-secret"], "ns", "T")
    writes = [{"kind": "Secret", "metadata": {"name": n}} for n in ("devpi-secret", "devpi-oauth2-proxy-secret")]
    registered = {"result": {"results": [{"result": {}}, {"error": {"msg": "refused"}}]}, "changed": True}
    plan = {"writes": writes, "report": [], "restarts": planned, "mount_warnings": [{"message": "m"}]}
    outcome = secret_report(plan, registered)
    assert [r["name"] for r in outcome["restarts"]] == ["z-dep", "ds"]
    assert outcome["mount_warnings"] == [{"message": "m"}]


def test_restart_outcome_per_patch():
    due = _consumers.restarts(_summaries(), ["devpi-secret"], "ns", "T")
    assert [r["action"] for r in restart_outcome(due, {}, True)] == ["would restart", "would restart"]
    both = {"result": {"results": [{"result": {"kind": "Deployment"}}, {"error": {"msg": "boom"}}]}}
    out = restart_outcome(due, both, False)
    assert [r["action"] for r in out] == ["restarted", "failed"]
    assert out[1]["error"] == "boom" and "patch" not in out[0]
    no_client = {"failed": True, "msg": "Failed to load kubeconfig"}
    assert [r["action"] for r in restart_outcome(due, no_client, False)] == ["failed", "failed"]


def _plan_module():
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils import _plan

    return _plan


def test_data_changes_leave_out_kept_and_label_only_updates():
    _plan = _plan_module()
    cluster = {"secrets": {"a": {"data": {"k": "MQ=="}}, "b": {"data": {"k": "MQ=="}}, "c": {"data": {"k": "MQ=="}}}}
    secrets = [
        {"name": "a", "action": "kept", "data": {"k": "MQ=="}},
        {"name": "b", "action": "updated", "data": {"k": "MQ=="}},  # labels only
        {"name": "c", "action": "rotated", "data": {"k": "Mg=="}},
        {"name": "d", "action": "created", "data": {"k": "Mg=="}},
        {"name": "b2", "action": "updated", "data": {"k": "MQ==", "moved": None}},
    ]
    cluster["secrets"]["b2"] = {"data": {"k": "MQ==", "moved": "eA=="}}
    assert _plan.data_changes(secrets, cluster) == ["c", "d", "b2"]


def test_consumers_are_skipped_when_turned_off_or_not_read():
    _plan = _plan_module()
    result = {"secrets": [{"name": "devpi-secret", "action": "created", "data": {"secret": "eA=="}}]}
    cluster = {"secrets": {}, "workloads": _summaries()}
    on = {"namespace": "ns", "restart_consumers": True}
    restarts, warnings = _plan.consumers(result, cluster, on)
    assert [r["name"] for r in restarts] == ["z-dep", "ds"] and warnings == []
    assert _plan.consumers(result, cluster, dict(on, restart_consumers=False)) == ([], [])
    assert _plan.consumers(result, {"secrets": {}, "workloads": None}, on) == ([], [])


def test_a_refused_list_of_workloads_stops_the_plan_naming_the_variable():
    _plan = _plan_module()
    cluster = {"error": "HTTP 403 Forbidden: no", "error_in": "workloads", "namespace": {"exists": True}, "secrets": {}}
    result = _plan.plan([], cluster, {}, {"namespace": "ns", "basic_auth_user": "u", "basic_auth_cost": 4}, [], {})
    (problem,) = result["problems"]
    assert problem.startswith("Cannot list the Deployments, StatefulSets and DaemonSets of namespace 'ns'")
    assert "HTTP 403 Forbidden: no" in problem and "devpi_secrets_restart_consumers" in problem
    assert result["restarts"] == [] and result["changes"] is False
