"""Benchmark of site.yml and playbooks/fleet.yml on the local control plane, each run paired with an empty play.

    .venv/bin/python benchmarks/bench_site.py [--runs 3] [--fleet 1,10,50] [--forks 10] [--kubeconfig PATH]

Single cluster (one namespace per sample): first run, re-run, rotation of devpi-secret - wall time, CPU time
(user+sys of ansible-playbook and its children), API writes and changed count - each sample right after an empty
play (localhost, no facts, no task) so the ratio is taken on the same machine state. Fleet: N contexts of one
kubeconfig pointing at the local API server, one inventory host and one namespace each, `-f FORKS`: wall, CPU per
cluster and API requests per cluster, for a first run and a re-run. Medians of --runs samples.

Writes results.md (the tables) and results.png (one chart) to benchmarks/results/ (git-ignored) and prints the
tables. Asserts nothing. Without --kubeconfig it starts a control plane of its own (tools/cluster.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import load_tool  # noqa: E402
from helpers.api_metrics import WRITE_VERBS, request_counts  # noqa: E402
from helpers.keycloak_fixture import KeycloakServer, client_secret  # noqa: E402
from helpers.kube import cluster, kubectl  # noqa: E402
from helpers.site import ansible_env, make_inputs  # noqa: E402

OUT = REPO / "benchmarks" / "results"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
_RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", re.M)


def api_requests(kubeconfig: str) -> collections.Counter:
    """Requests served so far by (verb, resource), dry runs apart; the metrics scrape itself is left out."""

    def keep(lab: dict) -> bool:
        if lab.get("resource") not in ("secrets", "namespaces") and lab.get("verb") in WRITE_VERBS:
            return False  # the in-process controllers' writes (default ServiceAccount, root CA ConfigMap)
        return not lab.get("subresource")  # namespaces/status and /finalize: the namespace controller's

    return request_counts(kubeconfig, keep)


def delta(before: collections.Counter, after: collections.Counter) -> collections.Counter:
    return collections.Counter({k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0})


class Sample:
    def __init__(self, wall, cpu, requests, changed):
        self.wall, self.cpu, self.requests, self.changed = wall, cpu, requests, changed

    @property
    def writes(self) -> int:
        return sum(v for (verb, _res), v in self.requests.items() if verb in WRITE_VERBS)

    @property
    def total_requests(self) -> int:
        return sum(v for (verb, _res), v in self.requests.items() if not verb.startswith("DRYRUN-"))


def run_playbook(args: list[str], kubeconfig: str | None, cwd: Path) -> Sample:
    before = api_requests(kubeconfig) if kubeconfig else None
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    env = ansible_env()
    for name in ("ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CALLBACK_PLUGINS"):  # the tests' capture callback: not timed
        env.pop(name, None)
    proc = subprocess.run([ANSIBLE_PLAYBOOK, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    requests = collections.Counter()
    if kubeconfig:
        requests = delta(before, api_requests(kubeconfig))
        requests[("GET", "")] -= 1  # the scrape of /metrics made by the first api_requests call
        requests = +requests
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    changed = sum(int(c) for c in _RECAP.findall(proc.stdout))
    return Sample(wall, cpu, requests, changed)


def empty_play(work: Path) -> Sample:
    play = work / "empty.yml"
    if not play.exists():
        play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    return run_playbook([str(play)], None, REPO)


def site(kubeconfig: str, namespace: str, inputs, work: Path, extra: dict | None = None) -> Sample:
    variables = inputs.vars(kubeconfig, namespace)
    variables.update(extra or {})
    variables = {name: value for name, value in variables.items() if value is not None}  # None: left out
    vars_file = work / f"vars-{namespace}-{time.monotonic_ns()}.json"
    vars_file.write_text(json.dumps(variables))
    return run_playbook([str(REPO / "site.yml"), "-e", f"@{vars_file}"], kubeconfig, REPO)


def fleet_files(kubeconfig: str, n: int, tag: str, inputs, work: Path) -> tuple[Path, Path]:
    """A kubeconfig with contexts c0..c(n-1) on the local API server, and an inventory with one host per context."""
    config = json.loads(kubectl("config", "view", "--raw", "-o", "json", kubeconfig=kubeconfig).stdout)
    base = config["contexts"][0]["context"]
    config["contexts"] = [{"name": f"{tag}-c{i}", "context": dict(base)} for i in range(n)]
    config["current-context"] = f"{tag}-c0"
    fleet_kubeconfig = work / f"{tag}.kubeconfig.json"
    fleet_kubeconfig.write_text(json.dumps(config))
    fleet_kubeconfig.chmod(0o600)
    group_vars = inputs.vars(str(fleet_kubeconfig), "unused")
    group_vars.pop("devpi_secrets_namespace")
    inventory = {
        "devpi_clusters": {
            "vars": dict(group_vars, ansible_connection="local"),
            "hosts": {
                f"{tag}-c{i}": {"devpi_secrets_context": f"{tag}-c{i}", "devpi_secrets_namespace": f"{tag}-{i}"}
                for i in range(n)
            },
        }
    }
    inventory_file = work / f"{tag}.inventory.json"
    inventory_file.write_text(json.dumps(inventory))
    return fleet_kubeconfig, inventory_file


def fleet(kubeconfig: str, inventory: Path, forks: int) -> Sample:
    return run_playbook(
        ["-i", str(inventory), str(REPO / "playbooks" / "fleet.yml"), "-f", str(forks)], kubeconfig, REPO
    )


kc_tool = load_tool("keycloak.py", "devpi_keycloak")
KC_REALM, KC_SA = "theedgeworks", "devpi-bootstrap"  # the test realm and its service account (tests/keycloak)


def keycloak_vars(url: str, client_id: str) -> dict:
    return {
        "devpi_secrets_keycloak_url": url,
        "devpi_secrets_keycloak_realm": KC_REALM,
        "devpi_secrets_keycloak_auth_client_id": KC_SA,
        "devpi_secrets_keycloak_auth_client_secret": client_secret(KC_SA),
        "devpi_secrets_oauth2_client_id": client_id,
        "devpi_secrets_oauth2_client_secret": None,  # left out: read from Keycloak
    }


def make_client(kc, client_id: str) -> None:
    """A confidential client for the role to complete (the master admin creates it)."""
    server = KeycloakServer(kc.url, kc.admin_username, kc.admin_password)
    body = {"clientId": client_id, "protocol": "openid-connect", "publicClient": False, "standardFlowEnabled": True}
    status = server.request("POST", f"/admin/realms/{KC_REALM}/clients", token=server.admin_token(), json_body=body)[0]
    if status != 201:
        raise SystemExit(f"could not create Keycloak client {client_id}: HTTP {status}")


def med(values) -> float:
    return statistics.median(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="samples per case (default 3)")
    ap.add_argument("--fleet", default="1,10,50", help="fleet sizes (default 1,10,50)")
    ap.add_argument("--forks", type=int, default=10)
    ap.add_argument("--kubeconfig", help="use this cluster instead of starting one")
    ap.add_argument("--no-keycloak", action="store_true", help="leave out the cases with Keycloak (no Java)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.fleet.split(",") if s.strip()]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cp = None
        kubeconfig = args.kubeconfig
        if not kubeconfig:
            cp = cluster.ControlPlane(work / "cp").up()
            kubeconfig = str(cp.kubeconfig)
        try:
            inputs = make_inputs(work / "inputs")
            single: dict[str, list[tuple[Sample, Sample]]] = {"first run": [], "re-run": [], "rotate devpi-secret": []}
            for i in range(args.runs):
                ns = f"bench-{os.getpid()}-{i}"
                single["first run"].append((empty_play(work), site(kubeconfig, ns, inputs, work)))
                single["re-run"].append((empty_play(work), site(kubeconfig, ns, inputs, work)))
                rotate = {"devpi_secrets_rotate": ["devpi-secret"]}
                single["rotate devpi-secret"].append((empty_play(work), site(kubeconfig, ns, inputs, work, rotate)))
            if not args.no_keycloak:
                kc = kc_tool.Keycloak(work / "keycloak", die_with_parent=True)
                try:
                    kc.up()
                    single["first run, Keycloak"], single["re-run, Keycloak"] = [], []
                    for i in range(args.runs):
                        ns, with_kc = f"bench-kc-{os.getpid()}-{i}", keycloak_vars(kc.url, f"bench-{i}")
                        make_client(kc, f"bench-{i}")
                        for case in ("first run, Keycloak", "re-run, Keycloak"):
                            single[case].append((empty_play(work), site(kubeconfig, ns, inputs, work, with_kc)))
                finally:
                    kc.down()
            fleets: dict[int, dict[str, list[Sample]]] = {}
            for n in sizes:
                fleets[n] = {"first run": [], "re-run": [], "empty": []}
                for i in range(args.runs):
                    _fk, inv = fleet_files(kubeconfig, n, f"fl{n}r{i}", inputs, work)
                    fleets[n]["empty"].append(empty_play(work))
                    fleets[n]["first run"].append(fleet(kubeconfig, inv, args.forks))
                    fleets[n]["re-run"].append(fleet(kubeconfig, inv, args.forks))
        finally:
            if cp is not None:
                cp.down()

    lines = [
        f"# site.yml and fleet.yml on the local control plane ({os.cpu_count()} cores, median of {args.runs})",
        "",
        "| case | wall s | empty play s | ratio | CPU s | API writes | changed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {}
    for case, pairs in single.items():
        ratio = med([s.wall / e.wall for e, s in pairs])
        ratios[case] = ratio
        lines.append(
            f"| {case} | {med([s.wall for _e, s in pairs]):.2f} | {med([e.wall for e, _s in pairs]):.2f} | "
            f"{ratio:.2f}x | {med([s.cpu for _e, s in pairs]):.2f} | {pairs[-1][1].writes} | {pairs[-1][1].changed} |"
        )
    lines += [
        "",
        f"Fleet (`playbooks/fleet.yml`, one host and namespace per context, -f {args.forks}):",
        "",
        "| N | run | wall s | CPU s per cluster | API requests per cluster | API writes per cluster |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    cpu_per_cluster = {}
    for n, cases in fleets.items():
        for case in ("first run", "re-run"):
            samples = cases[case]
            cpu = med([s.cpu / n for s in samples])
            cpu_per_cluster[(n, case)] = cpu
            lines.append(
                f"| {n} | {case} | {med([s.wall for s in samples]):.1f} | {cpu:.2f} | "
                f"{med([s.total_requests / n for s in samples]):.1f} | {med([s.writes / n for s in samples]):.1f} |"
            )
    if fleets:
        empty = med([e.wall for c in fleets.values() for e in c["empty"]])
        lines += ["", f"Empty play (fleet runs): {empty:.2f} s wall."]
    text = "\n".join(lines) + "\n"
    (OUT / "results.md").write_text(text)
    print(text)
    if cpu_per_cluster:
        chart(ratios, cpu_per_cluster, OUT / "results.png")
    print(f"wrote {OUT / 'results.md'} and {OUT / 'results.png'}")
    return 0


def chart(ratios: dict, cpu_per_cluster: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(list(ratios), list(ratios.values()), color="#4c72b0")
    left.tick_params(axis="x", labelrotation=30, labelsize=7)
    left.axhline(2, color="#c44e52", linestyle="--", label="2x (re-run target)")
    left.axhline(3, color="#8172b2", linestyle="-.", label="3x (re-run with Keycloak target)")
    left.axhline(4, color="#dd8452", linestyle=":", label="4x (first run, rotation)")
    left.set_ylabel("wall time / empty play")
    left.set_title("site.yml, one cluster")
    left.legend(fontsize=8)
    for case, style in (("first run", "o-"), ("re-run", "s-")):
        points = sorted((n, v) for (n, c), v in cpu_per_cluster.items() if c == case)
        right.plot([p[0] for p in points], [p[1] for p in points], style, label=case)
    right.set_xscale("log")
    right.set_xlabel("clusters in the fleet (N)")
    right.set_ylabel("CPU s per cluster")
    right.set_ylim(bottom=0)
    right.set_title("fleet.yml, -f 10")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
