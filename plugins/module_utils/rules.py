# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every rule an input must pass, in one place (no Ansible imports).

Each function takes a value and returns ``None`` when it is acceptable, else a phrase that completes a sentence
starting with the caller's name for the value: ``"devpi_secrets_basic_auth_user " + problem`` in the role,
``"users[0].name " + problem`` in the ``htpasswd_bcrypt`` module. A phrase never contains the value itself (a value
may be a secret) - only its shape (a length in bytes, which character class is wrong).
"""

from __future__ import annotations

import re

# htpasswd (Apache htpasswd -B, nginx auth_basic_user_file, ingress-nginx auth-file)
MIN_COST = 4
MAX_COST = 17  # Apache htpasswd -B accepts 4..17; bcrypt itself 4..31
WARN_COST = 7
MAX_NAME_BYTES = 255
MAX_PASSWORD_BYTES = 72  # bcrypt ignores everything after the 72nd byte
# A password of the devpi_secrets role (given, or found in the cluster and kept): long enough to be a credential,
# and long enough that Ansible's masking of no_log values (every occurrence, in all output) cannot hit the user name,
# the `$2y$05$` prefix of its hash or other ordinary text.
MIN_ROLE_PASSWORD_BYTES = 12

# C0 controls and DEL (line breaks, NUL, tab...) and the other characters Python's str.splitlines() breaks at.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_PASSWORD_BAD_RE = re.compile("[\x00\n\r]")

# Kubernetes names and labels (apimachinery validation)
_DNS_LABEL_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_NAME_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_NAME_RE = re.compile(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")


def _utf8_len(text):
    try:
        return len(text.encode("utf-8"))
    except UnicodeError:
        return None


# --------------------------------------------------------------------------------------------------------------------
# htpasswd


def htpasswd_user_problem(name):
    """A user name of an htpasswd line: 1-255 bytes, no ':', no control character, no '#' first, no outer blanks."""
    if not isinstance(name, str) or name == "":
        return "must be a non-empty string"
    size = _utf8_len(name)
    if size is None:
        return "is not valid UTF-8 text"
    if size > MAX_NAME_BYTES:
        return "is %d bytes long, at most %d are allowed" % (size, MAX_NAME_BYTES)
    if ":" in name:
        return "must not contain ':' (it separates the name from the hash)"
    if _CONTROL_RE.search(name):
        return "must not contain a line break, tab, NUL or another control character"
    if name.startswith("#"):
        return "must not start with '#' (nginx and Apache read such a line as a comment)"
    if name != name.strip():
        return "must not start or end with white space"
    return None


def htpasswd_password_problem(password):
    """A password to hash with bcrypt: 1-72 bytes of UTF-8, no NUL, CR or LF."""
    if not isinstance(password, str):
        return "must be a string of 1 to %d bytes" % MAX_PASSWORD_BYTES
    if password == "":
        return "must be 1 to %d bytes long, got an empty string" % MAX_PASSWORD_BYTES
    size = _utf8_len(password)
    if size is None:
        return "is not valid UTF-8 text"
    if size > MAX_PASSWORD_BYTES:
        return "is %d bytes long; bcrypt uses only the first %d bytes, so 1 to %d bytes are allowed" % (
            size,
            MAX_PASSWORD_BYTES,
            MAX_PASSWORD_BYTES,
        )
    if _PASSWORD_BAD_RE.search(password):
        return (
            "must not contain NUL, CR or LF (a line break usually comes from a file read with its final newline, "
            "and no browser can send it)"
        )
    return None


def role_password_problem(password, user):
    """A basic-auth password of the devpi_secrets role: the bcrypt rules above, 12 to 72 bytes, and not a part of the
    user name ``user`` (Ansible would mask it there)."""
    size = _utf8_len(password) if isinstance(password, str) else None
    if size is not None and not MIN_ROLE_PASSWORD_BYTES <= size <= MAX_PASSWORD_BYTES:
        return "must be %d to %d bytes long (bcrypt uses only the first %d; shorter is no credential), got %d" % (
            MIN_ROLE_PASSWORD_BYTES,
            MAX_PASSWORD_BYTES,
            MAX_PASSWORD_BYTES,
            size,
        )
    problem = htpasswd_password_problem(password)
    if problem is not None:
        return problem
    if isinstance(user, str) and password in user:
        return "must not be a part of devpi_secrets_basic_auth_user (Ansible would mask it in the user name)"
    return None


def bcrypt_cost_problem(cost):
    """A bcrypt cost Apache htpasswd accepts: an integer from 4 to 17."""
    if isinstance(cost, bool) or not isinstance(cost, int) or not MIN_COST <= cost <= MAX_COST:
        return "must be an integer from %d to %d, got %r" % (MIN_COST, MAX_COST, cost)
    return None


# --------------------------------------------------------------------------------------------------------------------
# Kubernetes


def dns_label_problem(name):
    """A namespace name: an RFC 1123 label (lower-case letters, digits, '-'; at most 63 characters)."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > 63:
        return "must be at most 63 characters long, got %d" % len(name)
    if not _DNS_LABEL_RE.match(name):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or "
            "digit, got %r" % name
        )
    return None


def dns_subdomain_problem(name):
    """A Secret name: an RFC 1123 subdomain (labels joined by '.'; at most 253 characters)."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > 253:
        return "must be at most 253 characters long, got %d" % len(name)
    if not _DNS_NAME_RE.match(name):
        return "must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.'), got %r" % name
    return None


def host_name_problem(host):
    """A TLS host name: a lower-case DNS name with at least one dot."""
    problem = dns_subdomain_problem(host)
    if problem is None and "." not in host:
        problem = "must be a fully qualified host name with at least one dot, got %r" % host
    return problem


def label_problems(labels):
    """Problems of a labels mapping (keys ``[prefix/]name``, values up to 63 characters), as phrases."""
    if not isinstance(labels, dict):
        return ["must be a mapping of label names to values"]
    problems = []
    for key, value in labels.items():
        if not isinstance(key, str):
            problems.append("has a key that is not a string: %r" % (key,))
            continue
        prefix, _sep, name = key.rpartition("/")
        if prefix and dns_subdomain_problem(prefix) is not None:
            problems.append("key %r: the prefix before '/' must be a DNS-1123 subdomain" % key)
        if not name or len(name) > 63 or not _LABEL_NAME_RE.match(name):
            problems.append(
                "key %r: the name must be 1-63 characters [A-Za-z0-9-_.], starting and ending alphanumeric" % key
            )
        if not isinstance(value, str):
            problems.append("key %r: the value must be a string (quote numbers and booleans)" % key)
        elif value and (len(value) > 63 or not _LABEL_NAME_RE.match(value)):
            problems.append(
                "key %r: the value must be empty or 1-63 characters [A-Za-z0-9-_.], starting and ending "
                "alphanumeric" % key
            )
    return problems


# --------------------------------------------------------------------------------------------------------------------
# Keycloak

_URL_RE = re.compile(r"\Ahttps?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s?#]*)?\Z")


def base_url_problem(url):
    """The base URL of a service: http(s)://host[:port][/path], no query or fragment, no blanks."""
    if not isinstance(url, str) or not _URL_RE.match(url):
        return "must be a base URL like https://sso.example.com (http or https, host, optional port and path)"
    return None


_LOOPBACK_RE = re.compile(r"\Ahttps?://(localhost|127(\.[0-9]{1,3}){3})(:[0-9]{1,5})?(/|\Z)", re.I)


def plain_http_problem(url):
    """A Keycloak URL over plain http to a host other than loopback: the admin password would travel in clear."""
    if isinstance(url, str) and url.lower().startswith("http://") and not _LOOPBACK_RE.match(url):
        return (
            "is plain http to a host other than loopback: the Keycloak admin password or service-account secret "
            "would travel in clear. Use https, or set devpi_secrets_keycloak_allow_http=true to accept that"
        )
    return None


# --------------------------------------------------------------------------------------------------------------------
# Free text given by a person (client ID, client secret)


def token_problem(value):
    """An identifier or secret copied from a console: non-empty, no surrounding blanks, no control characters."""
    if not isinstance(value, str) or value.strip() == "":
        return "must be a non-empty string"
    if value != value.strip():
        return "must not start or end with white space (check how it was copied)"
    if _CONTROL_RE.search(value):
        return "must not contain a line break or another control character"
    return None
