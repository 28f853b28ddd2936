# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_state
short_description: Read a namespace and the named Secrets in it, returning API errors instead of raising them
version_added: 2.0.0
description:
  - One GET of the namespace and, when it exists, one GET of each named Secret (a missing one is a 404, not an
    error), made with the C(kubernetes.core.k8s) lookup in the controller process (no module launch). No LIST, so
    a Role that names the Secrets in C(resourceNames) suffices.
  - "Inline key material of the kubeconfig (C(client-key-data), C(client-certificate-data),
    C(certificate-authority-data)) never reaches the disk. The C(kubernetes) client would write it to temporary files
    that it removes only at interpreter exit, which Ansible's forked workers never reach. During the read, those
    files are memory-only files (C(memfd_create), opened by their C(/proc/self/fd) path) that vanish with the
    process, killed or not. Where memory-only files are missing (not Linux), the temporary files are removed when
    the read ends."
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
    state: "{{ lookup('theedgeworks.devpi.cluster_state', namespace='devpi', names=['devpi-secret']) }}"
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
      description: V(namespace) or V(secrets) - which read failed; empty without error.
      type: str
    namespace:
      description: C(exists) (bool), C(phase) and C(labels) of the namespace.
      type: dict
    secrets:
      description:
        - Name to C(type), C(uid), C(resource_version), C(labels), C(data) (base64, as stored) and C(text) (each
          value decoded as UTF-8) for each named Secret that exists.
      type: dict
"""

import base64
import binascii
import contextlib
import os

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._k8s_errors import exception_text


def _text(value):
    try:
        return base64.b64decode(value or "", validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError, TypeError):
        return ""


def summarize_secret(obj):
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    return {
        "type": obj.get("type") or "Opaque",
        "uid": meta.get("uid", ""),
        "resource_version": meta.get("resourceVersion", ""),
        "labels": meta.get("labels") or {},
        "data": dict(data),
        "text": {key: _text(value) for key, value in data.items()},
    }


#: content -> path of its memory-only file, for the life of the process (the client keeps the paths and reads the
#: files again for every new TLS connection, and kubernetes.core pools clients by the files' content)
_MEMORY_FILES: dict = {}


def _memory_file(content, temp_file_path=None, force_recreate=False):
    """Stands in for kubernetes.config.kube_config._create_temp_file_with_content: the same content gives the same
    path, but the file is a memfd (no directory entry, never on disk), open until the process ends."""
    data = content if isinstance(content, bytes) else str(content).encode()
    path = _MEMORY_FILES.get(data)
    if path is None or force_recreate or not os.path.isfile(path):
        fd = os.memfd_create("devpi-kubeconfig", os.MFD_CLOEXEC)
        with open(fd, "wb", closefd=False) as handle:
            handle.write(data)
        path = _MEMORY_FILES[data] = "/proc/self/fd/%d" % fd
    return path


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
    if original is None or not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        try:
            yield
        finally:
            getattr(kube_config, "_cleanup_temp_files", lambda: None)()
        return
    kube_config._create_temp_file_with_content = _memory_file
    try:
        yield
    finally:
        kube_config._create_temp_file_with_content = original


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        with kubeconfig_material_in_memory():
            return self._read(variables, **kwargs)

    def _read(self, variables, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        namespace = self.get_option("namespace")
        names = self.get_option("names")
        connection = {"validate_certs": self.get_option("validate_certs")}
        for option in ("kubeconfig", "context"):
            if self.get_option(option):
                connection[option] = self.get_option(option)
        k8s = lookup_loader.get("kubernetes.core.k8s", loader=self._loader, templar=self._templar)
        if k8s is None:
            raise AnsibleError("the kubernetes.core collection is not installed (it provides the k8s lookup)")
        state = {"error": "", "error_in": "", "namespace": {"exists": False, "phase": "", "labels": {}}, "secrets": {}}

        try:
            found = k8s.run([], variables, kind="Namespace", resource_name=namespace, **connection)
        except Exception as exc:  # noqa: BLE001 - every API or configuration error is reported, not raised
            state.update(error=exception_text(exc), error_in="namespace")
            return [state]
        if found:
            meta = found[0].get("metadata") or {}
            state["namespace"] = {
                "exists": True,
                "phase": (found[0].get("status") or {}).get("phase", ""),
                "labels": meta.get("labels") or {},
            }
        else:
            return [state]

        # One GET per name, not a LIST: a Role can then grant the Secrets by resourceNames (no `list`, which would
        # expose every Secret of the namespace). A missing Secret is a 404, which the k8s lookup returns as [].
        for name in dict.fromkeys(names):
            try:
                found = k8s.run([], variables, kind="Secret", namespace=namespace, resource_name=name, **connection)
            except Exception as exc:  # noqa: BLE001
                state.update(error=exception_text(exc), error_in="secrets")
                return [state]
            if found:
                state["secrets"][name] = summarize_secret(found[0])
        return [state]
