"""Run site.yml against a cluster the way a user does, and look at what it did.

inputs = make_inputs(tmp_path)                      # throwaway CA + cert/key for the TLS host, a client secret
run = run_site(kubeconfig, namespace, inputs)       # ansible-playbook site.yml -e @vars.json
assert run.rc == 0 and run.recap["changed"] > 0
secrets = read_secrets(kubeconfig, namespace)       # name -> Secret object (data base64)
writes = api_writes(kubeconfig)                     # counts of write requests so far, from /metrics
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets as _secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helpers.api_metrics import WRITE_VERBS, request_counts
from helpers.kube import kubectl, kubectl_json
from helpers.tools import pki

REPO = Path(__file__).resolve().parents[2]
BASE_SECRET_NAMES = ("devpi-tls", "devpi-secret", "devpi-oauth2-proxy-secret", "devpi-basic-auth")
#: where a generated basic-auth password goes (devpi_secrets_basic_auth_client_name's default)
CLIENT_SECRET = "devpi-basic-auth-client"
#: every Secret a first run with a generated password writes
SECRET_NAMES = (*BASE_SECRET_NAMES, CLIENT_SECRET)
_RECAP = re.compile(r"^localhost\s+:\s+(.*)$", re.M)


@dataclass
class Inputs:
    cert_file: Path
    key_file: Path
    client_secret: str
    host: str = pki.DEFAULT_HOST
    ca: pki.KeyCert | None = None
    extra: dict = field(default_factory=dict)

    def vars(self, kubeconfig: str, namespace: str) -> dict:
        out = {
            "devpi_secrets_kubeconfig": str(kubeconfig),
            "devpi_secrets_namespace": namespace,
            "devpi_secrets_tls_cert_file": str(self.cert_file),
            "devpi_secrets_tls_key_file": str(self.key_file),
            "devpi_secrets_tls_host": self.host,
            "devpi_secrets_oauth2_client_secret": self.client_secret,
        }
        out.update(self.extra)
        return out


def make_inputs(directory: Path, host: str = pki.DEFAULT_HOST) -> Inputs:
    """A test CA, a leaf for `host` written as tls.crt/tls.key, and a random client secret."""
    ca = pki.make_ca()
    cert, key = pki.write_pair(directory, pki.issue_leaf(ca, host))
    return Inputs(cert_file=cert, key_file=key, client_secret=_secrets.token_urlsafe(24), host=host, ca=ca)


CALLBACKS = REPO / "tests" / "callback_plugins"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    recap: dict
    captured: dict = field(default_factory=dict)  # tests/callback_plugins/devpi_capture.py, by host

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def report(self) -> list:
        """devpi_secrets_report of localhost (name, action, type, keys, ...), as the role set it."""
        return (self.captured.get("localhost") or {}).get("report") or []

    @property
    def backup_report(self) -> dict:
        """devpi_secrets_backup_report of localhost (file, action, keys), as the role set it."""
        return (self.captured.get("localhost") or {}).get("backup") or {}

    @property
    def warnings(self) -> list[str]:
        return (self.captured.get("localhost") or {}).get("warnings") or []

    def action(self, name: str) -> str | None:
        return next((item["action"] for item in self.report if item["name"] == name), None)

    @property
    def values(self) -> list[str]:
        """Every value the run made or meant to write (all hosts), for the leak searches."""
        return [v for host in self.captured.values() for v in host.get("values", [])]


def ansible_env(**extra: str) -> dict:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_CALLBACK_PLUGINS"] = str(CALLBACKS)
    env["ANSIBLE_CALLBACKS_ENABLED"] = "devpi_capture"
    env.update(extra)
    return env


def run_playbook(
    playbook: str,
    variables: dict,
    workdir: Path,
    *args: str,
    timeout: float = 300,
    env: dict | None = None,
    cwd: Path | None = None,
) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    vars_file = workdir / f"vars-{_secrets.token_hex(4)}.json"
    vars_file.write_text(json.dumps(variables))
    vars_file.chmod(0o600)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(REPO / playbook), "-e", f"@{vars_file}", *args]
    capture = workdir / f"capture-{_secrets.token_hex(4)}.json"
    env = dict(env or ansible_env(), DEVPI_CAPTURE_FILE=str(capture))
    proc = subprocess.run(cmd, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    recap = {}
    match = _RECAP.search(proc.stdout)
    if match:
        recap = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}
    captured = {}
    if capture.exists():  # holds secrets: read, then removed
        captured = json.loads(capture.read_text())
        capture.unlink()
    return Run(proc.returncode, proc.stdout, proc.stderr, recap, captured)


#: as a value in run_site's `extra`: leave the variable out (for instance the client secret, to have it read from
#: Keycloak)
UNSET = object()


def run_site(
    kubeconfig: str,
    namespace: str,
    inputs: Inputs,
    *args: str,
    extra: dict | None = None,
    workdir: Path | None = None,
    **kw,
) -> Run:
    variables = inputs.vars(kubeconfig, namespace)
    variables.update(extra or {})
    variables = {name: value for name, value in variables.items() if value is not UNSET}
    return run_playbook("site.yml", variables, workdir or inputs.cert_file.parent, *args, **kw)


def read_secrets(kubeconfig: str, namespace: str) -> dict:
    """The devpi Secrets of `namespace`, name -> object."""
    items = kubectl_json("get", "secrets", "-n", namespace, kubeconfig=kubeconfig)["items"]
    return {s["metadata"]["name"]: s for s in items if s["metadata"]["name"] in SECRET_NAMES}


def data_of(secrets: dict) -> dict:
    """name -> data (base64), to compare two states byte for byte."""
    return {name: obj.get("data", {}) for name, obj in secrets.items()}


def resource_versions(kubeconfig: str, namespace: str) -> dict:
    return {n: s["metadata"]["resourceVersion"] for n, s in read_secrets(kubeconfig, namespace).items()}


def api_writes(kubeconfig: str) -> collections.Counter:
    """Write requests the API server has served so far on secrets and namespaces (their subresources too, not
    DELETECOLLECTION), by (verb, resource), from its /metrics.

    Dry-run requests (check mode) are counted apart, under verb 'DRYRUN-<verb>'.
    """
    return request_counts(
        kubeconfig, lambda lab: lab.get("verb", "") in WRITE_VERBS and lab.get("resource") in ("secrets", "namespaces")
    )


def writes_between(before: collections.Counter, after: collections.Counter, dry_run: bool = False) -> dict:
    diff = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    return {k: v for k, v in diff.items() if k[0].startswith("DRYRUN-") == dry_run}


def create_opaque_tls(kubeconfig: str, namespace: str, inputs: Inputs) -> None:
    """devpi-tls as a person may make it by hand: the right files, the wrong (immutable) type Opaque."""
    kubectl(
        "create", "secret", "generic", "devpi-tls", "-n", namespace, f"--from-file=tls.crt={inputs.cert_file}",
        f"--from-file=tls.key={inputs.key_file}", kubeconfig=kubeconfig,
    )  # fmt: skip


def looped_include_play(namespaces: list[str], report_file: Path, apply: dict | None = None) -> list:
    """A play that includes the role once per namespace with the default loop variable `item`, as a bootstrap play
    may, then writes the last inclusion's report and outcome errors to report_file (JSON)."""
    include = {"name": "theedgeworks.devpi.devpi_secrets"}
    if apply:
        include["apply"] = apply
    content = "{{ {'report': devpi_secrets_report, 'errors': _devpi_secrets_outcome.errors} | to_json }}"
    return [
        {
            "name": "One inclusion of the role per namespace",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Prepare each namespace",
                    "ansible.builtin.include_role": include,
                    "vars": {"devpi_secrets_namespace": "{{ item }}"},
                    "loop": list(namespaces),
                },
                {
                    "name": "Keep the outcome of the last inclusion",
                    "ansible.builtin.copy": {"content": content, "dest": str(report_file)},
                },
            ],
        }
    ]
