"""The requests the API server has served, counted from its /metrics (apiserver_request_total).

The one scraper of the tests and the benchmark; each caller says which requests it counts:

counts = request_counts(kubeconfig, lambda lab: lab.get("resource") == "secrets")   # (verb, resource) -> count
counts = request_counts(kubeconfig, keep, by_code=True)                            # (verb, resource, code) -> count
"""

from __future__ import annotations

import collections
import re
from typing import Callable

from helpers.kube import kubectl

_METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\}\s+([0-9.e+]+)$", re.M)
#: the verbs of a write, as apiserver_request_total labels them, DELETECOLLECTION apart
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE")


def request_counts(
    kubeconfig: str, keep: Callable[[dict], bool] = lambda labels: True, *, by_code: bool = False
) -> collections.Counter:
    """Requests served so far whose labels (a dict: verb, resource, subresource, code, dry_run, ...) `keep` accepts,
    summed by (verb, resource), or by (verb, resource, code) with by_code.

    Dry-run requests (check mode) are counted apart, under verb 'DRYRUN-<verb>'. A label the sample lacks counts as
    "" (the code as "?").
    """
    text = kubectl("get", "--raw", "/metrics", kubeconfig=kubeconfig).stdout
    counts: collections.Counter = collections.Counter()
    for labels, value in _METRIC.findall(text):
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if not keep(lab):
            continue
        verb = ("DRYRUN-" if lab.get("dry_run") else "") + lab.get("verb", "")
        key = (verb, lab.get("resource", ""), lab.get("code", "?")) if by_code else (verb, lab.get("resource", ""))
        counts[key] += int(float(value))
    return counts
