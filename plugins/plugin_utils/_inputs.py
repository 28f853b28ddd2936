# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""Which rule each input of the devpi_secrets role must pass: the validate step of the plan step (action/_plan.py).

The inputs are read from the task's variables by the names in the role's ``meta/argument_specs.yml`` (as
ansible-core's ``validate_argument_spec`` reads them), so no second list of names exists, and each is converted to the
type the spec gives, the way Ansible's ``type: bool``/``int``/``list`` convert: ``-e name=false`` is the string
``"false"`` until here, ``False`` after. The role's tasks use only the values returned here (``inputs``).

The rules themselves are in ``module_utils/rules.py`` (shared with the modules) and ``plugin_utils/_tls.py``. Every
problem found is reported at once, naming the variable and never its value; nothing here contacts the cluster.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys

import yaml
from ansible.module_utils.common.validation import (
    check_type_bool,
    check_type_dict,
    check_type_int,
    check_type_list,
    check_type_str,
)

from ansible_collections.theedgeworks.devpi.plugins.module_utils.rules import (
    base_url_problem,
    bcrypt_cost_problem,
    dns_label_problem,
    dns_subdomain_problem,
    host_name_problem,
    htpasswd_user_problem,
    label_problems,
    plain_http_problem,
    role_password_problem,
    token_problem,
)
from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._ages import max_age_problems

KEYCLOAK_AUTH = ("client_id", "client_secret", "username", "password")
PREFIX = "devpi_secrets_"
# The inputs that are secrets: checked here and returned apart (``secrets``), never in ``inputs``, which the role's
# tasks template into shown places (module_defaults, messages).
SECRET_INPUTS = frozenset(
    (
        "devpi_secrets_oauth2_client_secret",
        "devpi_secrets_basic_auth_password",
        "devpi_secrets_keycloak_auth_client_secret",
        "devpi_secrets_keycloak_auth_password",
    )
)

# How a value of each argument-spec type is converted (Ansible's own conversions). `raw` is left as it is.
_CONVERT = {
    "bool": check_type_bool,
    "int": check_type_int,
    "list": check_type_list,
    "dict": check_type_dict,
    "str": lambda value: check_type_str(value, allow_conversion=True),
    "path": lambda value: check_type_str(value, allow_conversion=True),
}
_TYPE_WORDS = {
    "bool": "a boolean (true/false, yes/no, 1/0)",
    "int": "a whole number",
    "list": "a list (or a comma-separated string)",
    "dict": "a mapping",
    "str": "a string",
    "path": "a path",
}


def convert(options, values):
    """``(converted, problems)``: each given value converted to its option's type; a value that does not convert is
    a problem (by variable name) naming the variable and the type, never the value."""
    converted, problems = {}, {}
    for name, spec in options.items():
        if name not in values or values[name] is None:
            continue
        kind = spec.get("type", "str")
        convert_one = _CONVERT.get(kind)
        if convert_one is None:
            converted[name] = values[name]
            continue
        try:
            converted[name] = convert_one(values[name])
        except (TypeError, ValueError):
            problems[name] = "%s must be %s, got a %s." % (name, _TYPE_WORDS[kind], type(values[name]).__name__)
    return converted, problems


def resolve_path(path, base):
    """A file on the control node: ``~`` and environment variables expanded, a relative path taken from ``base`` (the
    playbook's directory), the result absolute. One rule, used for the check and for the read."""
    path = os.path.expandvars(os.path.expanduser(path))
    return os.path.normpath(os.path.join(base, path))


# Python libraries the role uses in the controller process (and in the kubernetes.core.k8s writes, which run on the
# same interpreter), with the package to install.
LIBRARIES = (("kubernetes", "kubernetes"), ("cryptography", "cryptography"), ("bcrypt", "bcrypt"))


def missing_libraries():
    """Packages not installed. Found, not imported: importing kubernetes costs about half a second, and the read uses
    it only for a kubeconfig the standard library cannot follow (lookup/_cluster_state.py)."""
    return [package for module, package in LIBRARIES if importlib.util.find_spec(module) is None]


def read_options(path):
    """The options of the role's argument spec (``meta/argument_specs.yml``, entry point ``main``): the one list of
    the role's inputs. Parsed with libyaml when PyYAML has it (the file is read on every run)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as spec:
        return yaml.load(spec, Loader=loader)["argument_specs"]["main"]["options"]  # noqa: S506 - a safe loader


def check(options, given, rotatable, names, base):
    """Every input checked: ``{problems, warnings, inputs, secrets, rotate, client_secret_given,
    keycloak, tls}``.

    ``options``: the argument spec's options; ``given``: the role's variables that are set (templated), by name;
    ``rotatable`` and ``names``: the Secrets of the role's table that hold generated values, and all of them;
    ``base``: the folder relative paths are taken from (the playbook's). ``inputs`` holds every input but the secrets,
    by its name without the prefix (``devpi_secrets_namespace`` -> ``namespace``), converted; ``secrets`` the four
    secret inputs that were given (strings), by the same short names. ``problems`` are value-free sentences, each
    naming its variable; when there are any, nothing else may be used."""
    problems, warnings = [], []
    missing = missing_libraries()
    if missing:
        problems.append(
            "The Python that runs ansible-playbook (%s) lacks %s, which the devpi_secrets role uses on the "
            "controller: install them into that environment, e.g. `%s -m pip install %s` (see the collection's "
            "requirements.txt)." % (sys.executable, ", ".join(missing), sys.executable, " ".join(missing))
        )
        return {"problems": problems, "warnings": warnings, "inputs": {}, "secrets": {}}
    # Imported only now: tls.py needs cryptography, checked just above.
    from ansible_collections.theedgeworks.devpi.plugins.plugin_utils._tls import check_pair

    inputs, type_problems = convert(options, given)
    problems.extend(type_problems.values())

    def rule(name, problem, hint=""):
        if problem is not None and name not in type_problems:
            problems.append("%s %s.%s" % (name, problem, hint))

    rule("devpi_secrets_namespace", dns_label_problem(inputs.get("devpi_secrets_namespace")))
    rule("devpi_secrets_tls_host", host_name_problem(inputs.get("devpi_secrets_tls_host")))
    rule("devpi_secrets_oauth2_client_id", token_problem(inputs.get("devpi_secrets_oauth2_client_id")))
    keycloak_url = inputs.get("devpi_secrets_keycloak_url") or ""
    client_secret = inputs.get("devpi_secrets_oauth2_client_secret")
    if client_secret is not None or not keycloak_url:
        rule(
            "devpi_secrets_oauth2_client_secret",
            token_problem(client_secret),
            " It is the Keycloak client secret (admin console, Clients, %s, Credentials); with "
            "devpi_secrets_keycloak_url set it is read from Keycloak instead."
            % inputs.get("devpi_secrets_oauth2_client_id"),
        )
    if keycloak_url:
        problems.extend(keycloak_problems(inputs))
    rule("devpi_secrets_basic_auth_user", htpasswd_user_problem(inputs.get("devpi_secrets_basic_auth_user")))
    client_name = inputs.get("devpi_secrets_basic_auth_client_name")
    rule("devpi_secrets_basic_auth_client_name", dns_subdomain_problem(client_name))
    if client_name is not None and names.count(client_name) > 1:
        problems.append(
            "devpi_secrets_basic_auth_client_name must name a Secret of its own, not one of %s."
            % ", ".join(n for n in names if n != client_name or names.count(n) == 1)
        )
    password = inputs.get("devpi_secrets_basic_auth_password")
    if password is not None:
        rule(
            "devpi_secrets_basic_auth_password",
            role_password_problem(password, inputs.get("devpi_secrets_basic_auth_user")),
            " Omit the variable to have a random password generated and kept.",
        )
    rule("devpi_secrets_basic_auth_cost", bcrypt_cost_problem(inputs.get("devpi_secrets_basic_auth_cost")))
    # A cost above WARN_COST is allowed; htpasswd_bcrypt says once a run what it costs (htpasswd.COST_WARNING).
    days = inputs.get("devpi_secrets_tls_expiry_warning_days", 0)
    if not isinstance(days, int) or days < 0:
        problems.append("devpi_secrets_tls_expiry_warning_days must be a whole number of days (0 or more).")
        days = 0
    for problem in label_problems(inputs.get("devpi_secrets_labels")):
        problems.append("devpi_secrets_labels %s." % problem)

    rotate = inputs.get("devpi_secrets_rotate")
    if rotate == "all":
        rotate = list(rotatable)
    elif isinstance(rotate, str):  # `-e devpi_secrets_rotate=a,b`: a list, as Ansible's `type: list` reads it
        rotate = check_type_list(rotate)
    if not isinstance(rotate, list) or any(name not in rotatable for name in rotate):
        problems.append(
            "devpi_secrets_rotate must be 'all' or a list of names among %s (devpi-tls holds no generated value: "
            "give a new certificate instead); got %s." % (", ".join(rotatable), _shape(rotate))
        )
        rotate = []

    max_ages, age_problems = max_age_problems(inputs.get("devpi_secrets_max_age_days"), rotatable)
    if "devpi_secrets_max_age_days" not in type_problems:
        problems.extend(age_problems)
        inputs["devpi_secrets_max_age_days"] = max_ages
    if password is not None and "devpi-basic-auth" in max_ages:
        warnings.append(
            "devpi_secrets_max_age_days names devpi-basic-auth, but devpi_secrets_basic_auth_password is given: "
            "no password is generated, so nothing of it ages or is rotated on age."
        )

    kubeconfig = inputs.get("devpi_secrets_kubeconfig") or ""
    if kubeconfig and not os.access(os.path.expanduser(kubeconfig), os.R_OK):
        problems.append("devpi_secrets_kubeconfig (%s) is not a readable file." % kubeconfig)

    adopt = inputs.get("devpi_secrets_adopt") or []
    if not all(isinstance(name, str) for name in adopt):
        problems.append("devpi_secrets_adopt must be a list of Secret names.")

    tls = {}
    cert_file = inputs.get("devpi_secrets_tls_cert_file")
    key_file = inputs.get("devpi_secrets_tls_key_file")
    if cert_file:
        cert_file = inputs["devpi_secrets_tls_cert_file"] = resolve_path(cert_file, base)
    if key_file:
        key_file = inputs["devpi_secrets_tls_key_file"] = resolve_path(key_file, base)
    if not (isinstance(cert_file, str) and cert_file and isinstance(key_file, str) and key_file):
        problems.append(
            "devpi_secrets_tls_cert_file and devpi_secrets_tls_key_file must name the PEM certificate and key "
            "on the control node."
        )
    else:
        checked = check_pair(
            cert_file,
            key_file,
            inputs.get("devpi_secrets_tls_host") or "",
            days,
            "devpi_secrets_tls_cert_file",
            "devpi_secrets_tls_key_file",
            "devpi_secrets_tls_host",
        )
        problems.extend(checked.problems)
        warnings.extend(checked.warnings)
        tls = checked.facts

    problems.extend(backup_problems(inputs, base))
    problems.extend(audit_problems(inputs, base))

    return {
        "problems": problems,
        "warnings": warnings,
        "inputs": {name[len(PREFIX) :]: value for name, value in inputs.items() if name not in SECRET_INPUTS},
        "secrets": {name[len(PREFIX) :]: value for name, value in inputs.items() if name in SECRET_INPUTS},
        "rotate": rotate,
        "client_secret_given": client_secret is not None,
        "keycloak": bool(keycloak_url),
        "tls": tls,
    }


def keycloak_problems(inputs):
    """The Keycloak inputs, when devpi_secrets_keycloak_url is set: a realm and exactly one complete way in."""
    problems = []

    def rule(name, problem):
        if problem is not None:
            problems.append("%s %s." % (name, problem))

    url = inputs.get("devpi_secrets_keycloak_url")
    rule("devpi_secrets_keycloak_url", base_url_problem(url))
    if not inputs.get("devpi_secrets_keycloak_allow_http"):
        rule("devpi_secrets_keycloak_url", plain_http_problem(url))
    rule("devpi_secrets_keycloak_realm", token_problem(inputs.get("devpi_secrets_keycloak_realm")))
    given = {name: bool(inputs.get("devpi_secrets_keycloak_auth_" + name)) for name in KEYCLOAK_AUTH}
    client, user = given["client_id"] or given["client_secret"], given["username"] or given["password"]
    if client and user:
        problems.append(
            "Give either devpi_secrets_keycloak_auth_client_id and _client_secret (a service account, recommended) "
            "or devpi_secrets_keycloak_auth_username and _password, not both."
        )
    elif not client and not user:
        problems.append(
            "devpi_secrets_keycloak_url is set: give devpi_secrets_keycloak_auth_client_id and "
            "devpi_secrets_keycloak_auth_client_secret (a service account with the realm-management roles "
            "view-clients and manage-clients), or devpi_secrets_keycloak_auth_username and _password."
        )
    else:
        pair = ("client_id", "client_secret") if client else ("username", "password")
        for name in ("devpi_secrets_keycloak_auth_" + part for part in pair):
            rule(name, token_problem(inputs.get(name)))
    realm = inputs.get("devpi_secrets_keycloak_auth_realm")
    if realm:
        rule("devpi_secrets_keycloak_auth_realm", token_problem(realm))
    return problems


AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58,}$")  # bech32: an X25519 key, or a longer post-quantum one


def backup_problems(inputs, base):
    """The encrypted copy's inputs, when devpi_secrets_backup_file is set (resolved in ``inputs`` like the TLS paths):
    recipients to encrypt to, sops and community.sops to run, a folder to write in, and - when the copy exists, since
    it is read before anything is written - an identity to decrypt it with; and the folder of its Flux-ready form
    (devpi_secrets_backup_flux_dir), which needs the copy."""
    path = inputs.get("devpi_secrets_backup_file") or ""
    flux_dir = inputs.get("devpi_secrets_backup_flux_dir") or ""
    if not path:
        if flux_dir:
            return [
                "devpi_secrets_backup_flux_dir is set, but devpi_secrets_backup_file is not: the Flux-ready form is "
                "written with the encrypted copy - set devpi_secrets_backup_file (and its recipients) too."
            ]
        return []
    problems = []
    path = inputs["devpi_secrets_backup_file"] = resolve_path(path, base)
    if flux_dir:
        flux_dir = inputs["devpi_secrets_backup_flux_dir"] = resolve_path(flux_dir, base)
        problems.extend(flux_dir_problems(flux_dir, path))
    recipients = inputs.get("devpi_secrets_backup_age_recipients") or []
    if not recipients:
        problems.append(
            "devpi_secrets_backup_file is set: devpi_secrets_backup_age_recipients must list the age public keys "
            "(age1..., from `age-keygen -y KEYFILE`) to encrypt the copy to."
        )
    elif not all(isinstance(r, str) and AGE_RECIPIENT.match(r) for r in recipients):
        problems.append(
            "devpi_secrets_backup_age_recipients must be age public keys (age1 followed by at least 58 bech32 "
            "characters, as `age-keygen -y KEYFILE` prints them)."
        )
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        problems.append("devpi_secrets_backup_file (%s) is a folder: name the copy's file." % path)
    elif not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
        problems.append("devpi_secrets_backup_file (%s): its folder %s is not a writable folder." % (path, folder))
    keyfile = inputs.get("devpi_secrets_backup_age_keyfile") or ""
    if keyfile:
        keyfile = inputs["devpi_secrets_backup_age_keyfile"] = resolve_path(keyfile, base)
    if os.path.exists(path) and not (keyfile and os.path.isfile(keyfile) and os.access(keyfile, os.R_OK)):
        problems.append(
            "devpi_secrets_backup_file (%s) exists, so it is read first: devpi_secrets_backup_age_keyfile must name a "
            "readable age identity file of one of its recipients%s."
            % (path, " (%s is not)" % keyfile if keyfile else "")
        )
    if shutil.which("sops") is None:
        problems.append(
            "devpi_secrets_backup_file is set, but no `sops` (3.9 or later) is on the PATH of ansible-playbook: "
            "install it (README, Rebuilding a cluster)."
        )
    if importlib.util.find_spec("ansible_collections.community.sops") is None:
        problems.append(
            "devpi_secrets_backup_file is set, but the collection community.sops is not installed: "
            "ansible-galaxy collection install community.sops (it comes with the ansible package)."
        )
    return problems


def audit_problems(inputs, base):
    """The audit's inputs: a whole number of warning days, and a report file (resolved in ``inputs`` like the TLS
    paths) whose folder exists and whose ``.prom`` neighbour is another file."""
    problems = []
    days = inputs.get("devpi_secrets_audit_warning_days", 0)
    if not isinstance(days, int) or days < 0:
        problems.append("devpi_secrets_audit_warning_days must be a whole number of days (0 or more).")
    path = inputs.get("devpi_secrets_audit_report") or ""
    if not path or not inputs.get("devpi_secrets_audit"):
        return problems
    path = inputs["devpi_secrets_audit_report"] = resolve_path(path, base)
    folder = os.path.dirname(path)
    if path.endswith(".prom"):
        problems.append(
            "devpi_secrets_audit_report (%s) names the JSON report: the Prometheus textfile is written beside it "
            "with the extension .prom (for example devpi.json -> devpi.prom)." % path
        )
    elif os.path.isdir(path):
        problems.append("devpi_secrets_audit_report (%s) is a folder: name the report's file." % path)
    elif not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
        problems.append("devpi_secrets_audit_report (%s): its folder %s is not a writable folder." % (path, folder))
    return problems


def flux_dir_problems(flux_dir, copy_file):
    """The folder of the Flux-ready form: a writable folder, or one the role can make (its parent is one), and not
    the copy's own folder (its kustomization.yaml would sit beside the copy, which Flux cannot decrypt)."""
    if os.path.exists(flux_dir):
        if not os.path.isdir(flux_dir):
            return ["devpi_secrets_backup_flux_dir (%s) is not a folder." % flux_dir]
        if not os.access(flux_dir, os.W_OK | os.X_OK):
            return ["devpi_secrets_backup_flux_dir (%s) is not a writable folder." % flux_dir]
    else:
        parent = os.path.dirname(flux_dir.rstrip(os.sep)) or os.sep
        if not (os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)):
            return [
                "devpi_secrets_backup_flux_dir (%s) does not exist and cannot be made: its parent %s is not a "
                "writable folder." % (flux_dir, parent)
            ]
    if os.path.normpath(flux_dir) == os.path.normpath(os.path.dirname(copy_file)):
        return [
            "devpi_secrets_backup_flux_dir (%s) is the folder of devpi_secrets_backup_file: give the Flux-ready form "
            "a folder of its own (what you commit to the Flux repository)." % flux_dir
        ]
    return []


def _shape(value):
    """The rotation input as given: names of Secrets are not secret."""
    if isinstance(value, (list, str)):
        return repr(value)
    return "a %s" % type(value).__name__
