"""Benchmark: wall time and API writes of site.yml's first run, re-run and a rotation, on the local control plane.

    .venv/bin/python benchmarks/bench_site.py [--runs N] [--kubeconfig PATH]

Without --kubeconfig it starts a control plane of its own (tools/cluster.py) in a temporary folder. Writes are read
from the API server's apiserver_request_total counter (non-dry-run POST/PUT/PATCH/DELETE on secrets and namespaces).
Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.kube import cluster, delete_namespace  # noqa: E402
from helpers.site import api_writes, make_inputs, run_site, writes_between  # noqa: E402


def timed(kubeconfig, namespace, inputs, **kw):
    before = api_writes(kubeconfig)
    start = time.monotonic()
    run = run_site(kubeconfig, namespace, inputs, **kw)
    elapsed = time.monotonic() - start
    if run.rc != 0:
        raise SystemExit(run.output[-3000:])
    writes = writes_between(before, api_writes(kubeconfig))
    return elapsed, sum(writes.values()), writes, run.recap.get("changed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="namespaces to measure (default 3)")
    ap.add_argument("--kubeconfig", help="use this cluster instead of starting one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cp = None
        kubeconfig = args.kubeconfig
        if not kubeconfig:
            cp = cluster.ControlPlane(Path(tmp) / "cp").up()
            kubeconfig = str(cp.kubeconfig)
        try:
            rows = {"first run": [], "re-run": [], "rotate devpi-secret": []}
            for i in range(args.runs):
                ns = f"bench-{i}"
                inputs = make_inputs(Path(tmp) / ns)
                rows["first run"].append(timed(kubeconfig, ns, inputs))
                rows["re-run"].append(timed(kubeconfig, ns, inputs))
                rows["rotate devpi-secret"].append(
                    timed(kubeconfig, ns, inputs, extra={"devpi_secrets_rotate": ["devpi-secret"]})
                )
                delete_namespace(ns, kubeconfig=kubeconfig, timeout=120)
            print(f"site.yml on the local control plane, {args.runs} namespaces")
            print(f"{'case':<22}{'median s':>10}{'min s':>8}{'max s':>8}{'writes':>8}{'changed':>9}  writes by kind")
            for name, samples in rows.items():
                times = [s[0] for s in samples]
                kinds = ", ".join(f"{v}x {k[0]} {k[1]}" for k, v in sorted(samples[-1][2].items())) or "none"
                print(
                    f"{name:<22}{statistics.median(times):>10.1f}{min(times):>8.1f}{max(times):>8.1f}"
                    f"{samples[-1][1]:>8}{samples[-1][3]!s:>9}  {kinds}"
                )
        finally:
            if cp is not None:
                cp.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
