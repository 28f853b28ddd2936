"""playbooks/fleet.yml: one host per cluster context, in parallel; an unreachable cluster fails alone.

Three contexts of one kubeconfig: two reach the test API server (a namespace each), one points at a port where
nothing listens. The good clusters are prepared, the bad one fails with a message naming its API, the recap and the
summary task name it, and a re-run writes nothing to the good ones.
"""

from __future__ import annotations

import json
import re

import pytest

from helpers.kube import delete_namespace, kubectl
from helpers.site import SECRET_NAMES, api_writes, read_secrets, run_playbook, writes_between

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet(kubeconfig, inputs, tmp_path):
    config = json.loads(kubectl("config", "view", "--raw", "-o", "json", kubeconfig=kubeconfig).stdout)
    cluster = config["clusters"][0]
    down = {"name": "down", "cluster": dict(cluster["cluster"], server="https://127.0.0.1:1")}
    user = config["contexts"][0]["context"]["user"]
    config["clusters"].append(down)
    config["contexts"] = [
        {"name": "edge-a", "context": {"cluster": cluster["name"], "user": user}},
        {"name": "edge-b", "context": {"cluster": cluster["name"], "user": user}},
        {"name": "edge-down", "context": {"cluster": "down", "user": user}},
    ]
    fleet_kubeconfig = tmp_path / "fleet.kubeconfig"
    fleet_kubeconfig.write_text(json.dumps(config))
    fleet_kubeconfig.chmod(0o600)
    suffix = tmp_path.name[-6:].lower().replace("_", "-")
    namespaces = {"edge-a": f"t-fleet-a-{suffix}", "edge-b": f"t-fleet-b-{suffix}", "edge-down": "devpi"}
    group_vars = inputs.vars(str(fleet_kubeconfig), "unused")
    group_vars.pop("devpi_secrets_namespace")
    group_vars["devpi_secrets_context"] = "{{ inventory_hostname }}"  # as in playbooks/inventory-fleet-example
    inventory = {
        "devpi_clusters": {
            "vars": group_vars,
            "hosts": {name: {"devpi_secrets_namespace": ns} for name, ns in namespaces.items()},
        }
    }
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    yield path, namespaces
    for name in ("edge-a", "edge-b"):
        delete_namespace(namespaces[name], kubeconfig=kubeconfig, timeout=120)


def recap(output: str) -> dict:
    return {
        host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
        for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M)
    }


def test_fleet_prepares_reachable_clusters_and_names_the_unreachable_one(kubeconfig, fleet, tmp_path):
    inventory, namespaces = fleet
    run = run_playbook("playbooks/fleet.yml", {}, tmp_path, "-i", str(inventory), "-f", "3")
    counts = recap(run.stdout)
    print(f"\n[fleet] rc={run.rc} recap={counts}")
    assert run.rc != 0, run.output[-4000:]
    assert counts["edge-down"]["failed"] == 1
    assert counts["edge-a"]["failed"] == 0 and counts["edge-b"]["failed"] == 0
    assert "1 of 3 clusters failed: edge-down" in run.stdout
    failure = run.stdout.split("fatal: [edge-down]", 1)[1][:1500]
    assert "Cannot read namespace" in failure and "edge-down" in failure and "Connection refused" in failure
    for name in ("edge-a", "edge-b"):
        assert set(read_secrets(kubeconfig, namespaces[name])) == set(SECRET_NAMES)

    before = api_writes(kubeconfig)
    again = run_playbook("playbooks/fleet.yml", {}, tmp_path, "-i", str(inventory), "-f", "3")
    counts = recap(again.stdout)
    assert counts["edge-a"]["changed"] == 0 and counts["edge-b"]["changed"] == 0, again.stdout[-3000:]
    assert writes_between(before, api_writes(kubeconfig)) == {}
