# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: _cluster_state
short_description: "[INTERNAL] Read a namespace and the named Secrets in it, returning API errors"
version_added: 2.0.0
description:
  - B(Internal to the theedgeworks.devpi.devpi_secrets role:) call the role, not this plugin. Its options
    and results change with the role, in any release, without deprecation.
  - One GET of the namespace and, when it exists, one GET of each named Secret (a missing one is a 404, not an
    error), in the controller process (no module launch). No LIST, so a Role that names the Secrets in
    C(resourceNames) suffices.
  - When every field of the kubeconfig's context is one it understands (server over https, certificate authority,
    client certificate and key, token, C(insecure-skip-tls-verify)) and no C(K8S_AUTH_*) or proxy variable is set,
    the GETs go over one HTTPS connection made with Python's standard library, which saves importing the
    C(kubernetes) client (0.2-0.3 s of a run that writes nothing). Every other case - exec and auth-provider
    plugins, in-cluster service accounts, several C(KUBECONFIG) files, proxies - reads with the C(kubernetes.core.k8s)
    lookup, as the writes do.
  - "Inline key material of the kubeconfig (C(client-key-data), C(client-certificate-data),
    C(certificate-authority-data)) never reaches the disk. The C(kubernetes) client would write it to temporary files
    that it removes only at interpreter exit, which Ansible's forked workers never reach. During the read, those
    files are memory-only files (C(memfd_create), opened by their C(/proc/self/fd) path) that vanish with the
    process, killed or not. Where memory-only files are missing (not Linux), the temporary files are removed when
    the read ends."
  - With O(workloads=true), also one LIST each of the Deployments, StatefulSets and DaemonSets of the namespace
    (C(apps/v1)), returned as summaries - which Secrets each pod template references and how, and the mounts of
    C(devpi-secret) that devpi-server refuses - not as objects.
  - An API error (connection, TLS, authentication, RBAC) does not raise; it is returned as a one-line, value-free
    text in the C(error) key of the result, so that a task without C(no_log) can report it. The task that calls
    this lookup holds Secret data and must run with C(no_log).
options:
  namespace:
    description: The namespace to read.
    type: str
    required: true
  names:
    description: The Secrets to read, one GET each (others in the namespace are not read).
    type: list
    elements: str
    required: true
  workloads:
    description:
      - Also list the Deployments, StatefulSets and DaemonSets of the namespace (needs C(list) on them) and return
        their summaries in RV(_raw[].workloads).
    type: bool
    default: false
    version_added: 3.0.0
  kubeconfig:
    description: Path of the kubeconfig; empty means C($KUBECONFIG), else C(~/.kube/config).
    type: str
    default: ""
  context:
    description: Context of the kubeconfig; empty means its current context.
    type: str
    default: ""
  validate_certs:
    description: Verify the API server's certificate.
    type: bool
    default: true
notes:
  - Requires the C(kubernetes) Python library in the environment that runs ansible-playbook.
seealso:
  - plugin: kubernetes.core.k8s
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Read the namespace and its devpi Secrets
  ansible.builtin.set_fact:
    state: "{{ lookup('theedgeworks.devpi._cluster_state', namespace='devpi', names=['devpi-secret']) }}"
  no_log: true # holds Secret data

- name: Report a read error (the message holds no value)
  ansible.builtin.fail:
    msg: "{{ state.error }}"
  when: state.error != ''
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    error:
      description: "Empty, or what went wrong (C(HTTP <code> <reason>: <message>) for API errors)."
      type: str
    error_in:
      description: V(namespace), V(secrets) or V(workloads) - which read failed; empty without error.
      type: str
    namespace:
      description: C(exists) (bool), C(phase) and C(labels) of the namespace.
      type: dict
    secrets:
      description:
        - Name to C(type), C(uid), C(resource_version), C(labels), C(data) (base64, as stored) and C(text) (each
          value decoded as UTF-8) for each named Secret that exists.
        - Also C(annotations) - only the collection's own, C(theedgeworks.devpi/generated-at) (the ages of the
          generated values), when the Secret carries it; never another annotation (one such as
          C(kubectl.kubernetes.io/last-applied-configuration) may copy the data).
      type: dict
    workloads:
      description:
        - Without O(workloads) or when the namespace does not exist, V(None). Else one summary per workload, sorted by
          kind and name - C(kind), C(name), C(references) (Secret name to the ways its pod template references it,
          V(volume), V(projected), V(env), V(envFrom)) and C(mount_problems) (C(container), C(secret), C(problem) -
          V(no-subpath), V(mode) or V(fsgroup), C(detail), C(mount_path)).
      type: list
      elements: dict
      version_added: 3.0.0
"""

import base64
import binascii
import contextlib
import urllib.parse

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._ages import ANNOTATION
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._consumers import WORKLOAD_KINDS, summarize
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._k8s_errors import exception_text
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._kube_read import (
    NotSimple,
    Reader,
    ReadError,
    memory_file,
    memory_files_work,
    simple_config,
)


def _text(value):
    try:
        return base64.b64decode(value or "", validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError, TypeError):
        return ""


def summarize_secret(obj):
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    # Only the collection's own annotation: another one may copy the data (last-applied-configuration).
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k == ANNOTATION}
    return {
        "type": obj.get("type") or "Opaque",
        "uid": meta.get("uid", ""),
        "resource_version": meta.get("resourceVersion", ""),
        "labels": meta.get("labels") or {},
        "annotations": annotations,
        "data": dict(data),
        "text": {key: _text(value) for key, value in data.items()},
    }


@contextlib.contextmanager
def kubeconfig_material_in_memory():
    """While inside: the kubernetes client's kubeconfig loader puts inline keys and certificates in memory-only files
    instead of temporary files on disk. Without memfd (not Linux): the temporary files are removed on the way out."""
    try:
        from kubernetes.config import kube_config
    except ImportError:  # the k8s lookup reports the missing library
        yield
        return
    original = getattr(kube_config, "_create_temp_file_with_content", None)
    if original is None or not memory_files_work():
        try:
            yield
        finally:
            getattr(kube_config, "_cleanup_temp_files", lambda: None)()
        return
    kube_config._create_temp_file_with_content = memory_file
    try:
        yield
    finally:
        kube_config._create_temp_file_with_content = original


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        namespace = self.get_option("namespace")
        names = list(dict.fromkeys(self.get_option("names")))
        workloads = self.get_option("workloads")
        try:
            conn = simple_config(
                self.get_option("kubeconfig"), self.get_option("context"), self.get_option("validate_certs")
            )
        except NotSimple:
            with kubeconfig_material_in_memory():
                return [self._read_with_kubernetes_core(variables, namespace, names, workloads)]
        return [_read_directly(conn, namespace, names, workloads)]

    def _read_with_kubernetes_core(self, variables, namespace, names, workloads=False):
        """The reads through kubernetes.core's k8s lookup (the kubernetes client): any kubeconfig, in-cluster too."""
        connection = {"validate_certs": self.get_option("validate_certs")}
        for option in ("kubeconfig", "context"):
            if self.get_option(option):
                connection[option] = self.get_option(option)
        k8s = lookup_loader.get("kubernetes.core.k8s", loader=self._loader, templar=self._templar)
        if k8s is None:
            raise AnsibleError("the kubernetes.core collection is not installed (it provides the k8s lookup)")

        def get(kind, name, in_namespace=None):
            extra = {"namespace": in_namespace} if in_namespace else {}
            found = k8s.run([], variables, kind=kind, resource_name=name, **extra, **connection)
            return found[0] if found else None  # a missing object (404) is []

        def list_kind(kind, in_namespace):
            found = k8s.run(
                [], variables, api_version=WORKLOAD_KINDS[kind][0], kind=kind, namespace=in_namespace, **connection
            )
            return [dict(item, kind=kind) for item in found or []]

        return _state(get, namespace, names, exception_text, list_kind if workloads else None)


def _read_directly(conn, namespace, names, workloads=False):
    """The same GETs over one HTTPS connection with the standard library (plugin_utils/_kube_read.py)."""
    try:
        reader = Reader(conn)
    except ReadError as exc:
        return _failed("namespace", str(exc))
    quoted = urllib.parse.quote

    def get(kind, name, in_namespace=None):
        if kind == "Namespace":
            return reader.get("/api/v1/namespaces/%s" % quoted(name, safe=""))
        return reader.get("/api/v1/namespaces/%s/secrets/%s" % (quoted(in_namespace, safe=""), quoted(name, safe="")))

    def list_kind(kind, in_namespace):
        api_version, plural = WORKLOAD_KINDS[kind]
        found = reader.get("/apis/%s/namespaces/%s/%s" % (api_version, quoted(in_namespace, safe=""), plural))
        # The items of a list carry no kind.
        return [dict(item, kind=kind) for item in (found or {}).get("items") or []]

    try:
        return _state(get, namespace, names, str, list_kind if workloads else None)
    finally:
        reader.close()


def _failed(where, text):
    return {
        "error": text,
        "error_in": where,
        "namespace": {"exists": False, "phase": "", "labels": {}},
        "secrets": {},
        "workloads": None,
    }


def _state(get, namespace, names, error_text, list_kind=None):
    """The namespace, then - when it exists - one GET per name, not a LIST: a Role can then grant the Secrets by
    resourceNames (no `list`, which would expose every Secret of the namespace). With ``list_kind``, one LIST per
    workload kind, kept as summaries (plugin_utils/_consumers.py). Errors are returned, not raised."""
    state = _failed("", "")
    try:
        found = get("Namespace", namespace)
    except Exception as exc:  # noqa: BLE001 - every API or configuration error is reported, not raised
        return _failed("namespace", error_text(exc))
    if not found:
        return state
    meta = found.get("metadata") or {}
    state["namespace"] = {
        "exists": True,
        "phase": (found.get("status") or {}).get("phase", ""),
        "labels": meta.get("labels") or {},
    }
    for name in names:
        try:
            found = get("Secret", name, namespace)
        except Exception as exc:  # noqa: BLE001
            state.update(error=error_text(exc), error_in="secrets")
            return state
        if found:
            state["secrets"][name] = summarize_secret(found)
    if list_kind is not None:
        summaries = []
        for kind in WORKLOAD_KINDS:
            try:
                summaries.extend(summarize(obj) for obj in list_kind(kind, namespace))
            except Exception as exc:  # noqa: BLE001
                state.update(error=error_text(exc), error_in="workloads")
                return state
        state["workloads"] = sorted(
            summaries, key=lambda item: (list(WORKLOAD_KINDS).index(item["kind"]), item["name"])
        )
    return state
