"""--diff and devpi_secrets_report show fingerprints only of values this run generated.

A SHA-256 prefix (or a length) of a value a person chose lets anyone test guesses against it: 'changeme' as a client
secret showed as `sha256:45b3f175d592 (12 base64 chars)` in 1.0.0. For user-supplied and pre-existing values the
report says only that they changed; for a value the role generated (>= 16 random bytes) it shows a fingerprint; the
certificate (public) shows its own SHA-256 fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from helpers.site import CLIENT_SECRET, read_secrets, run_site

pytestmark = pytest.mark.integration
FINGERPRINT = re.compile(r"sha256:[0-9a-f]{12,64}")


def forms(value: str) -> list[str]:
    """What a fingerprint or length of `value` would look like in the output."""
    b64 = base64.b64encode(value.encode()).decode()
    return [
        hashlib.sha256(value.encode()).hexdigest()[:12],
        hashlib.sha256(b64.encode()).hexdigest()[:12],
        f"({len(b64)} base64 chars)",
        f"(len {len(value)})",
    ]


def changed_keys(run, name: str) -> dict:
    return next(item for item in run.report if item["name"] == name).get("changed_keys", {})


def test_chosen_values_show_as_changed_only_and_generated_ones_by_fingerprint(kubeconfig, namespace, inputs):
    chosen = {"devpi_secrets_oauth2_client_secret": "changeme", "devpi_secrets_basic_auth_password": "hunter2hunter2"}
    first = run_site(kubeconfig, namespace, inputs, "--diff", extra=chosen)
    assert first.rc == 0, first.output[-4000:]
    changed = {"devpi_secrets_oauth2_client_secret": "changeme2", "devpi_secrets_basic_auth_password": "hunter3hunter3"}
    run = run_site(kubeconfig, namespace, inputs, "--diff", extra=changed | {"devpi_secrets_rotate": ["devpi-secret"]})
    assert run.rc == 0, run.output[-4000:]
    for value in (*chosen.values(), *changed.values()):
        for form in forms(value):
            assert form not in run.output and form not in json.dumps(run.report), f"{form!r} (of a chosen value)"
    oauth = changed_keys(run, "devpi-oauth2-proxy-secret")
    assert set(oauth) == {"client-secret"}
    assert not FINGERPRINT.search(json.dumps(oauth)) and not re.search(r"\d", json.dumps(oauth)), oauth
    auth = changed_keys(run, "devpi-basic-auth")["auth"]
    assert not FINGERPRINT.search(json.dumps(auth)) and not re.search(r"\d", json.dumps(auth)), auth

    # The rotated devpi-secret: a fingerprint of the new (generated) value only, not of the one it replaced.
    secret = changed_keys(run, "devpi-secret")["secret"]
    stored = base64.b64decode(read_secrets(kubeconfig, namespace)["devpi-secret"]["data"]["secret"]).decode()
    assert hashlib.sha256(stored.encode()).hexdigest()[:16] in secret["after"]
    assert not FINGERPRINT.search(secret["before"]) and not re.search(r"\d", secret["before"]), secret


def test_generated_password_and_certificate_show_their_fingerprints(kubeconfig, namespace, inputs):
    run = run_site(kubeconfig, namespace, inputs, "--diff")
    assert run.rc == 0, run.output[-4000:]
    stored = read_secrets(kubeconfig, namespace)
    password = base64.b64decode(stored[CLIENT_SECRET]["data"]["password"]).decode()
    client = changed_keys(run, CLIENT_SECRET)
    assert client["password"]["before"] == "absent"
    assert hashlib.sha256(password.encode()).hexdigest()[:16] in client["password"]["after"]
    tls = changed_keys(run, "devpi-tls")
    der = base64.b64decode("".join(inputs.cert_file.read_text().splitlines()[1:-1]))
    assert hashlib.sha256(der).hexdigest() in tls["tls.crt"]["after"]
    assert not FINGERPRINT.search(json.dumps(tls["tls.key"])) and not re.search(r"\d", json.dumps(tls["tls.key"]))
    secret = base64.b64decode(stored["devpi-secret"]["data"]["secret"]).decode()
    assert hashlib.sha256(secret.encode()).hexdigest()[:16] in changed_keys(run, "devpi-secret")["secret"]["after"]
