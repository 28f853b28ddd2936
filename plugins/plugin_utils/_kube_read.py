# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""GETs of the Kubernetes API with the standard library, for the kubeconfigs whose every field it understands.

Why: importing the ``kubernetes`` client costs 0.2-0.3 s of a re-run that writes nothing (measured, ``make bench``);
six GETs cost 0.02 s. ``simple_config()`` accepts a kubeconfig only when this module does exactly what the client
would do with it: one file, a cluster with ``server`` (https), ``certificate-authority(-data)``,
``insecure-skip-tls-verify``; a user with ``client-certificate(-data)``/``client-key(-data)``,
``token``/``tokenFile`` or nothing else; no ``K8S_AUTH_*`` variable (kubernetes.core reads them) and no proxy in the
environment. Anything else - exec and auth-provider plugins, in-cluster service accounts, merged ``KUBECONFIG``
lists, proxies - raises ``NotSimple`` and the caller reads with kubernetes.core as before.

Inline key material goes to memory-only files (``memfd_create``), never to the disk. No Ansible imports.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import urllib.parse

import yaml

from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._k8s_errors import status_line

TIMEOUT = 30
_CLUSTER_KEYS = {
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "extensions",
}
_USER_KEYS = {
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "extensions",
}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")

#: content -> path of its memory-only file, for the life of the process (the kubernetes client keeps the paths it
#: is given and reads the files again for every new TLS connection)
_MEMORY_FILES: dict = {}


class NotSimple(Exception):
    """The kubeconfig or the environment needs the kubernetes client (the reason is the message)."""


def memory_file(content, temp_file_path=None, force_recreate=False):
    """A memory-only file (memfd: no directory entry, never on disk) holding ``content``, by its /proc/self/fd path;
    the same content gives the same path. The signature of kubernetes.config.kube_config's
    ``_create_temp_file_with_content``, which the cluster_state lookup replaces with it while the client reads."""
    data = content if isinstance(content, bytes) else str(content).encode()
    path = _MEMORY_FILES.get(data)
    if path is None or force_recreate or not os.path.isfile(path):
        fd = os.memfd_create("devpi-kubeconfig", os.MFD_CLOEXEC)
        with open(fd, "wb", closefd=False) as handle:
            handle.write(data)
        path = _MEMORY_FILES[data] = "/proc/self/fd/%d" % fd
    return path


def memory_files_work():
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def _named(entries, name, what):
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(what), dict):
            return entry[what]
    raise NotSimple("%s %r is not in the kubeconfig" % (what, name))


def simple_config(kubeconfig="", context="", validate_certs=True, environ=None):
    """The connection of a kubeconfig this module reads as the kubernetes client would, or ``NotSimple``."""
    environ = os.environ if environ is None else environ
    if any(name.startswith("K8S_AUTH_") for name in environ):
        raise NotSimple("K8S_AUTH_* variables are set")
    if any(environ.get(name) for name in _PROXY_VARIABLES):
        raise NotSimple("a proxy is set in the environment")
    if not memory_files_work():
        raise NotSimple("no memory-only files on this system")
    path = kubeconfig or environ.get("KUBECONFIG", "") or "~/.kube/config"
    if os.pathsep in path:
        raise NotSimple("KUBECONFIG lists several files")
    path = os.path.expanduser(path)
    try:
        with open(path, "rb") as handle:
            config = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise NotSimple("kubeconfig not readable: %s" % exc.__class__.__name__) from None
    if not isinstance(config, dict):
        raise NotSimple("kubeconfig is not a mapping")
    context = context or config.get("current-context") or ""
    ctx = _named(config.get("contexts"), context, "context")
    cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        raise NotSimple("kubeconfig fields beyond certificates and tokens")
    server = urllib.parse.urlsplit(str(cluster.get("server", "")))
    if server.scheme != "https" or not server.hostname or server.path.strip("/") or server.query:
        raise NotSimple("server is not a plain https URL")
    if cluster.get("tls-server-name") not in (None, "", server.hostname):
        raise NotSimple("tls-server-name differs from the server's host")
    base = os.path.dirname(os.path.abspath(path))

    def material(key):
        """PEM text of ``key``-data (base64) or the path of ``key`` (relative to the kubeconfig's folder)."""
        if cluster.get(key + "-data") or user.get(key + "-data"):
            data = cluster.get(key + "-data") or user.get(key + "-data")
            try:
                return memory_file(base64.b64decode(data, validate=True))
            except (ValueError, TypeError):
                raise NotSimple("%s-data is not base64" % key) from None
        name = cluster.get(key) or user.get(key)
        return os.path.join(base, os.path.expanduser(name)) if name else ""

    token = user.get("token") or ""
    if user.get("tokenFile") and not token:
        try:
            with open(os.path.join(base, os.path.expanduser(user["tokenFile"])), encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError:
            raise NotSimple("tokenFile not readable") from None
    verify = bool(validate_certs) and cluster.get("insecure-skip-tls-verify") is not True
    if verify and not (cluster.get("certificate-authority-data") or cluster.get("certificate-authority")):
        raise NotSimple("no certificate authority in the kubeconfig (the client would use certifi's)")
    return {
        "host": server.hostname,
        "port": server.port or 443,
        "verify": verify,
        "ca_file": material("certificate-authority") if verify else "",
        "cert_file": material("client-certificate"),
        "key_file": material("client-key"),
        "token": token,
    }


class Reader:
    """One keep-alive HTTPS connection; ``get(path)`` returns the decoded object, None for 404, or raises
    ``ReadError`` with one value-free line (``HTTP <code> <reason>: <message>`` or the connection error)."""

    def __init__(self, conn):
        try:
            if conn["verify"]:
                context = ssl.create_default_context(cafile=conn["ca_file"])
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if conn["cert_file"]:
                context.load_cert_chain(conn["cert_file"], conn["key_file"] or None)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ReadError("the kubeconfig's certificates cannot be used: %s" % exc.__class__.__name__) from None
        self._headers = {"Accept": "application/json", "User-Agent": "theedgeworks.devpi"}
        if conn["token"]:
            self._headers["Authorization"] = "Bearer " + conn["token"]
        self._http = http.client.HTTPSConnection(conn["host"], conn["port"], context=context, timeout=TIMEOUT)

    def get(self, path):
        try:
            self._http.request("GET", path, headers=self._headers)
            response = self._http.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ReadError(" ".join(str(exc).split()) or exc.__class__.__name__) from None
        if response.status == 404:
            return None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if response.status != 200:
            if isinstance(document, dict) and document.get("kind") == "Status":
                raise ReadError(status_line(document))
            raise ReadError("HTTP %s %s" % (response.status, response.reason))
        if not isinstance(document, dict):
            raise ReadError("HTTP 200 with a body that is not a JSON object")
        return document

    def close(self):
        self._http.close()


class ReadError(Exception):
    """A value-free line about a failed GET."""
