"""A failing no_log task must not print what it failed with (issue 15, point 1).

ansible-core 2.19 and later print the failure text of a `no_log` task (`[ERROR]: Task failed: Module failed: ...`,
with `ignore_errors` too) under the default and minimal callbacks; 2.17 hides it. Text from the API server, Keycloak
or a library may quote the values the task handled. Four faults are provoked, one per host of one play (so one
ansible-playbook run covers them all), and the play is run under the default, minimal and json stdout callbacks with
ANSIBLE_LOG_PATH set:

* delete:   a hand-made Opaque devpi-tls is replaced (devpi_secrets_replace_wrong_type); the DELETE is refused by a
            ValidatingAdmissionPolicy whose message quotes oldObject.data (the old tls.key);
* create:   every create is refused by the same policy, quoting the new data;
* keycloak: a loopback stand-in for Keycloak's admin API answers the client reads as Keycloak does and the update
            with an error that echoes the request body (which carries the client secret);
* bcrypt:   bcrypt.hashpw raises a ValueError quoting the password (a sitecustomize.py on PYTHONPATH wraps it).

Every run: rc != 0, no form of any value in stdout, stderr or the log, and (json callback) each host stops in a task
of the role whose message is shown (not censored) and names what failed.
"""

from __future__ import annotations

import json
import secrets
import textwrap
import time
import uuid

import ansible
import pytest

from helpers.http_stub import JsonHandler, ServedInThread
from helpers.kube import apply_manifest, delete_namespace, echoing_policy, kubectl
from helpers.leaks import forms_of
from helpers.role_tasks import CHECK_THE_PLAN, WRITE_REFUSED
from helpers.site import ansible_env, api_writes, create_opaque_tls, make_inputs, run_playbook

pytestmark = pytest.mark.integration

CALLBACKS = {"default": "ansible.builtin.default", "minimal": "ansible.builtin.minimal", "json": "ansible.posix.json"}
HOSTS = ("delete", "create", "keycloak", "bcrypt")

# Wraps bcrypt.hashpw as a library that quotes its input in an error would behave, for passwords starting "boom-".
SITECUSTOMIZE = textwrap.dedent(
    '''
    """Test-only (tests/integration/test_nolog_failures.py): bcrypt.hashpw raises, quoting the password."""
    try:
        import bcrypt as _bcrypt
    except ImportError:  # pragma: no cover
        _bcrypt = None
    if _bcrypt is not None:
        _hashpw = _bcrypt.hashpw

        def hashpw(password, salt):
            if bytes(password).startswith(b"boom-"):
                raise ValueError("cannot hash password %r with salt %r" % (password, salt))
            return _hashpw(password, salt)

        _bcrypt.hashpw = hashpw
    '''
)

PLAYBOOK = """\
- name: Prepare the devpi namespace and Secrets
  hosts: all
  connection: local
  gather_facts: false
  roles:
    - role: theedgeworks.devpi.devpi_secrets
"""


class KeycloakStandIn(ServedInThread):
    """The part of Keycloak's admin API the role uses; the client update is refused, echoing the request body."""

    def __init__(self, client_id: str, secret: str):
        self.client = {
            "id": str(uuid.uuid4()),
            "clientId": client_id,
            "protocol": "openid-connect",
            "publicClient": False,
            "standardFlowEnabled": True,
            "clientAuthenticatorType": "client-secret",
            "secret": secret,
            "redirectUris": [],
            "webOrigins": [],
            "attributes": {},
            "enabled": True,
            "bearerOnly": False,
            "consentRequired": False,
            "directAccessGrantsEnabled": False,
            "implicitFlowEnabled": False,
            "serviceAccountsEnabled": False,
            "fullScopeAllowed": True,
            "nodeReRegistrationTimeout": -1,
            "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "basic", "email"],
            "optionalClientScopes": ["address", "phone", "offline_access", "microprofile-jwt"],
            "access": {"view": True, "configure": True, "manage": True},
        }
        self.requests: list[str] = []
        stand_in = self

        class Handler(JsonHandler):
            def do_POST(self):  # noqa: N802 - the token endpoint
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stand_in.requests.append("POST " + self.path)
                if self.path.endswith("/protocol/openid-connect/token"):
                    self._send(200, {"access_token": "t" * 40, "token_type": "Bearer", "expires_in": 300,
                                     "refresh_token": "r" * 40, "refresh_expires_in": 1800})  # fmt: skip
                else:
                    self._send(404, {"error": "not found"})

            def do_GET(self):  # noqa: N802
                stand_in.requests.append("GET " + self.path)
                path, _sep, query = self.path.partition("?")
                client = stand_in.client
                if path.endswith("/clients"):  # ?clientId=...: the matching clients, as Keycloak answers
                    self._send(200, [client] if f"clientId={client['clientId']}" in query.split("&") else [])
                elif path.endswith(f"/clients/{client['id']}"):
                    self._send(200, client)
                elif path.endswith(f"/clients/{client['id']}/client-secret"):
                    self._send(200, {"type": "secret", "value": client["secret"]})
                else:
                    self._send(404, {"error": "Could not find resource"})

            def do_PUT(self):  # noqa: N802 - the update: refused, quoting what was sent
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                stand_in.requests.append("PUT " + self.path)
                self._send(400, {"error": "invalid_request", "error_description": "refused: " + body})

        self.serve(Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"


def _wait_refused(kubeconfig: str, *args: str) -> None:
    """Until a server-side dry run of `kubectl args` is refused by the policy (it takes effect within seconds)."""
    for _attempt in range(60):
        proc = kubectl(*args, "--dry-run=server", kubeconfig=kubeconfig, check=False)
        if proc.returncode != 0 and "refused" in proc.stderr:
            return
        time.sleep(0.5)
    raise AssertionError(f"the policy does not refuse `kubectl {' '.join(args)}`")


def _failed_tasks(report: dict) -> dict[str, tuple[str, dict]]:
    """host -> (name, result) of the last task that failed for it, from the json callback's output."""
    out = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in (task.get("hosts") or {}).items():
                if result.get("failed"):  # the name without the role's prefix ("<role> : ")
                    out[host] = (task["task"]["name"].split(" : ", 1)[-1], result)
    return out


@pytest.fixture
def scene(kubeconfig, tmp_path):
    """Namespaces, the echoing policy, the Keycloak stand-in, the sitecustomize and the inventory of the four hosts."""
    tag = secrets.token_hex(3)
    ns = {host: f"t-nolog-{host}-{tag}" for host in HOSTS}
    policy = f"echo-nolog-{tag}"
    inputs = make_inputs(tmp_path / "in")
    for host in ("delete", "create"):
        kubectl("create", "namespace", ns[host], kubeconfig=kubeconfig)
    create_opaque_tls(kubeconfig, ns["delete"], inputs)  # made before the policy, which would refuse it
    apply_manifest({"apiVersion": "v1", "kind": "List", "items": echoing_policy(policy, [ns["delete"], ns["create"]])},
                   kubeconfig=kubeconfig, verb=("apply",))  # fmt: skip
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    keycloak_secret = "kc-" + secrets.token_urlsafe(24)
    keycloak_password = "admin-" + secrets.token_urlsafe(18)
    password = "boom-" + secrets.token_urlsafe(20)
    try:
        _wait_refused(kubeconfig, "delete", "secret", "devpi-tls", "-n", ns["delete"])
        _wait_refused(kubeconfig, "create", "secret", "generic", "probe", "-n", ns["create"], "--from-literal=k=v")
        with KeycloakStandIn("theedgeworks", keycloak_secret) as keycloak:
            common = {"ansible_connection": "local", "devpi_secrets_oauth2_client_secret": inputs.client_secret}
            hosts = {
                "delete": {**common, "devpi_secrets_namespace": ns["delete"], "devpi_secrets_replace_wrong_type": True},
                "create": {**common, "devpi_secrets_namespace": ns["create"]},
                "keycloak": {
                    "ansible_connection": "local",
                    "devpi_secrets_namespace": ns["keycloak"],
                    "devpi_secrets_keycloak_url": keycloak.url,
                    "devpi_secrets_keycloak_realm": "theedgeworks",
                    "devpi_secrets_keycloak_auth_realm": "master",
                    "devpi_secrets_keycloak_auth_username": "admin",
                    "devpi_secrets_keycloak_auth_password": keycloak_password,
                    "devpi_secrets_keycloak_validate_certs": False,
                },
                "bcrypt": {
                    **common,
                    "devpi_secrets_namespace": ns["bcrypt"],
                    "devpi_secrets_basic_auth_password": password,
                },
            }
            inventory = tmp_path / "inventory.json"
            inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
            playbook = tmp_path / "play.yml"
            playbook.write_text(PLAYBOOK)
            common_vars = {
                "devpi_secrets_kubeconfig": str(kubeconfig),
                "devpi_secrets_tls_cert_file": str(inputs.cert_file),
                "devpi_secrets_tls_key_file": str(inputs.key_file),
                "devpi_secrets_tls_host": inputs.host,
            }
            key = inputs.key_file.read_text()
            values = {
                "client secret": inputs.client_secret,
                "tls.key": key,
                "Keycloak client secret": keycloak_secret,
                "Keycloak admin password": keycloak_password,
                "basic-auth password": password,
            }
            values.update({f"tls.key line {n}": line for n, line in enumerate(key.splitlines()) if "-----" not in line})
            yield {
                "inventory": inventory,
                "playbook": playbook,
                "vars": common_vars,
                "values": values,
                "sitecustomize": site_dir,
                "keycloak": keycloak,
                "namespaces": ns,
            }
    finally:
        kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy, "--ignore-not-found",
                kubeconfig=kubeconfig)  # fmt: skip
        for name in ns.values():
            kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", kubeconfig=kubeconfig)
        for name in ns.values():
            delete_namespace(name, kubeconfig=kubeconfig, timeout=60)


def test_no_log_failures_print_no_value(kubeconfig, scene, tmp_path):
    print(f"\n[nolog] ansible-core {ansible.__version__}")
    problems = []
    for callback, plugin in CALLBACKS.items():
        log = tmp_path / f"{callback}.log"
        env = ansible_env(
            ANSIBLE_STDOUT_CALLBACK=plugin,
            ANSIBLE_LOG_PATH=str(log),
            PYTHONPATH=str(scene["sitecustomize"]),
        )
        deletes = api_writes(kubeconfig)[("DELETE", "secrets")]
        run = run_playbook(str(scene["playbook"]), scene["vars"], tmp_path / callback, "-i", str(scene["inventory"]),
                           env=env)  # fmt: skip
        sent_deletes = api_writes(kubeconfig)[("DELETE", "secrets")] - deletes
        texts = {"stdout": run.stdout, "stderr": run.stderr, "log": log.read_text() if log.exists() else ""}
        needles = {}
        for name, value in [*scene["values"].items(), *((f"generated {n}", v) for n, v in enumerate(run.values))]:
            needles.update({label.replace("value 0", name): text for label, text in forms_of([value]).items()})
        hits = {where: sorted(label for label, text in needles.items() if text in out) for where, out in texts.items()}
        count = sum(len(h) for h in hits.values())
        print(f"[nolog] {callback}: rc={run.rc}, deletes sent={sent_deletes}, leaked forms={count} {hits}")
        if count:
            problems.append(f"{callback}: values in the output: {hits}")
        if run.rc == 0:
            problems.append(f"{callback}: rc 0")
        if sent_deletes < 1:
            problems.append(f"{callback}: the wrong-type devpi-tls was never deleted (refused)")
        if callback == "json":
            failed = _failed_tasks(json.loads(run.stdout))
            names = {host: name for host, (name, _result) in failed.items()}
            print(f"[nolog] json: failed tasks {names}")
            expect = {
                "delete": (WRITE_REFUSED, "devpi-tls"),
                "create": (WRITE_REFUSED, "devpi-secret"),
                "keycloak": (
                    "Stop when Keycloak refused the write (nothing was written to the cluster)",
                    "theedgeworks",
                ),
                "bcrypt": (
                    CHECK_THE_PLAN,
                    "theedgeworks.devpi.htpasswd_bcrypt",
                ),
            }
            for host, (name, word) in expect.items():
                task, result = failed.get(host, ("(none)", {}))
                print(f"[nolog] json: {host}: {str(result.get('msg'))[:400]!r}")
                if "censored" in result or word not in str(result.get("msg", "")):
                    problems.append(f"{host}: stopped in {task!r} without a message naming {word!r}: {result}")
                elif name is not None and task != name:
                    problems.append(f"{host}: stopped in {task!r}, not in {name!r}")
    requests = scene["keycloak"].requests
    assert any(r.startswith("PUT") for r in requests), f"the Keycloak update was never sent: {requests}"
    assert problems == [], "\n".join(problems)
