# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The consumers of the role's Secrets: which workloads of the namespace read which Secret, how to restart them, and
which mounts their consumer will refuse. Pure functions, no Ansible imports.

A workload (Deployment, StatefulSet, DaemonSet, as the API returns it) references a Secret through its pod template:
a ``secret`` volume, a ``projected`` volume's ``secret`` source, an ``env[].valueFrom.secretKeyRef`` or an
``envFrom[].secretRef`` of a container or an init container. ``summarize`` keeps only that, per workload, plus the
mount problems of ``devpi-secret``: devpi-server refuses a ``--secretfile`` with any group or other permission bit or
in a group- or world-writable folder (devpi-server ``config.py``, ``get_validated_secret``), and a Secret volume is a
1777 folder of 0644 files by default, 0440 with an ``fsGroup`` even when 0400 is asked (kubernetes#57923). What works:
a ``subPath`` mount of the key with ``defaultMode: 0400`` (or the item's ``mode``) and no ``fsGroup`` in the pod.

A restart is what ``kubectl rollout restart`` does: the pod template's ``kubectl.kubernetes.io/restartedAt``
annotation set to the time (RFC 3339), as a merge patch. Flux's server-side apply leaves a field it does not own.
"""

from __future__ import annotations

import datetime

#: the workload kinds that are read and restarted, with their API version and plural
WORKLOAD_KINDS = {
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "daemonsets"),
}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
#: the Secret devpi-server reads with --secretfile, and its key
DEVPI_SECRET = "devpi-secret"  # noqa: S105 - a name, not a value
DEVPI_SECRET_KEY = "secret"  # noqa: S105 - a key name
#: a Secret volume's file mode when neither defaultMode nor the item's mode is set
DEFAULT_MODE = 0o644
#: how a pod template references a Secret
WAYS = ("volume", "projected", "env", "envFrom")


def _pod_spec(workload):
    return (((workload.get("spec") or {}).get("template") or {}).get("spec")) or {}


def _containers(pod_spec):
    """``(container, is_init)`` for the init containers and the containers of a pod spec."""
    for field, is_init in (("initContainers", True), ("containers", False)):
        for container in pod_spec.get(field) or []:
            if isinstance(container, dict):
                yield container, is_init


def _volume_secrets(volume):
    """``(secret name, way, source)`` of a volume: the secret volume itself or each projected secret source."""
    secret = volume.get("secret")
    if isinstance(secret, dict) and secret.get("secretName"):
        yield secret["secretName"], "volume", secret
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in projected.get("sources") or []:
            inner = (source or {}).get("secret")
            if isinstance(inner, dict) and inner.get("name"):
                yield inner["name"], "projected", inner


def references(workload):
    """Secret name -> sorted list of the ways (``WAYS``) the workload's pod template references it."""
    pod_spec = _pod_spec(workload)
    found = {}
    for volume in pod_spec.get("volumes") or []:
        for name, way, _source in _volume_secrets(volume or {}):
            found.setdefault(name, set()).add(way)
    for container, _is_init in _containers(pod_spec):
        for env in container.get("env") or []:
            ref = ((env or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name"):
                found.setdefault(ref["name"], set()).add("env")
        for env_from in container.get("envFrom") or []:
            ref = (env_from or {}).get("secretRef") or {}
            if ref.get("name"):
                found.setdefault(ref["name"], set()).add("envFrom")
    return {name: sorted(ways, key=WAYS.index) for name, ways in sorted(found.items())}


def _key_mode(volume_kind, source, projected_default):
    """The file mode of devpi-secret's key in a volume (None: the key is not in it)."""
    items = source.get("items")
    if items:
        for item in items:
            if (item or {}).get("key") == DEVPI_SECRET_KEY:
                if item.get("mode") is not None:
                    return item["mode"]
                break
        else:
            return None
    default = source.get("defaultMode") if volume_kind == "volume" else projected_default
    return DEFAULT_MODE if default is None else default


def mount_problems(workload, secret=DEVPI_SECRET):
    """The mounts of ``secret`` (devpi-secret) that devpi-server refuses, one dict each: ``container``, ``secret``,
    ``problem`` (``no-subpath``, ``mode``, ``fsgroup``), ``detail``. A container that does not mount it has none."""
    pod_spec = _pod_spec(workload)
    volumes = {}
    for volume in pod_spec.get("volumes") or []:
        volume = volume or {}
        projected_default = (volume.get("projected") or {}).get("defaultMode")
        for name, way, source in _volume_secrets(volume):
            if name == secret:
                volumes[volume.get("name")] = _key_mode(way, source, projected_default)
    fs_group = (pod_spec.get("securityContext") or {}).get("fsGroup")
    problems = []
    for container, _is_init in _containers(pod_spec):
        for mount in container.get("volumeMounts") or []:
            mount = mount or {}
            if mount.get("name") not in volumes:
                continue
            mode = volumes[mount["name"]]
            base = {"container": container.get("name", ""), "secret": secret, "mount_path": mount.get("mountPath", "")}
            if not mount.get("subPath"):
                detail = "the whole volume is mounted: its folder is world-writable (1777)"
                problems.append(dict(base, problem="no-subpath", detail=detail))
            if mode is not None and mode & 0o077:
                detail = "the file mode is %04o: group or other may read it" % mode
                problems.append(dict(base, problem="mode", detail=detail))
            if fs_group is not None:
                detail = "the pod's fsGroup %s makes the file group-readable (0440)" % fs_group
                problems.append(dict(base, problem="fsgroup", detail=detail))
    return problems


def summarize(workload):
    """What the plan needs of one workload: ``kind``, ``name``, ``references`` (see ``references``) and
    ``mount_problems`` (see ``mount_problems``). Nothing else of the object is kept."""
    meta = workload.get("metadata") or {}
    return {
        "kind": workload.get("kind", ""),
        "name": meta.get("name", ""),
        "references": references(workload),
        "mount_problems": mount_problems(workload),
    }


def now_rfc3339(clock=None):
    """The time as ``kubectl rollout restart`` writes it (RFC 3339, seconds, UTC ``Z``)."""
    moment = clock() if clock else datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart_patch(kind, name, namespace, restarted_at):
    """The merge patch of a rollout restart."""
    return {
        "apiVersion": WORKLOAD_KINDS[kind][0],
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}},
    }


def restarts(summaries, changed, namespace, restarted_at):
    """The workloads to restart: those that reference a Secret of ``changed`` (names whose data this run changes),
    sorted by kind and name, each ``{kind, name, secrets, ways, patch}``."""
    changed = set(changed)
    out = []
    for workload in summaries or []:
        if workload.get("kind") not in WORKLOAD_KINDS:
            continue
        hit = sorted(name for name in workload.get("references") or {} if name in changed)
        if not hit:
            continue
        out.append({
            "kind": workload["kind"],
            "name": workload["name"],
            "secrets": hit,
            "ways": sorted({way for name in hit for way in workload["references"][name]}, key=WAYS.index),
            "patch": restart_patch(workload["kind"], workload["name"], namespace, restarted_at),
        })  # fmt: skip
    return sorted(out, key=lambda item: (list(WORKLOAD_KINDS).index(item["kind"]), item["name"]))


def mount_warnings(summaries, namespace):
    """One entry per mount problem of every workload: ``kind``, ``name``, ``container``, ``secret``, ``problem``,
    ``message`` (the sentence the role warns with)."""
    out = []
    for workload in summaries or []:
        for problem in workload.get("mount_problems") or []:
            message = (
                "%s %s/%s, container %s: Secret %s mounted at %s will be refused by devpi-server (--secretfile): %s. "
                "Mount only its key by subPath with defaultMode 0400 (0o400, 256) and no fsGroup on the pod, as "
                "examples/flux/devpi-server-deployment.yaml does."
                % (workload["kind"], namespace, workload["name"], problem["container"], problem["secret"],
                   problem["mount_path"] or "(no path)", problem["detail"])
            )  # fmt: skip
            out.append({
                "kind": workload["kind"],
                "name": workload["name"],
                "container": problem["container"],
                "secret": problem["secret"],
                "problem": problem["problem"],
                "message": message,
            })  # fmt: skip
    return out


def due_restarts(planned, written):
    """The planned restarts (see ``restarts``) of which at least one changed Secret was written (``written``: names;
    in check mode, the Secrets the dry run accepted). A refused write restarts nothing."""
    written = set(written)
    return [item for item in planned or [] if any(name in written for name in item["secrets"])]
