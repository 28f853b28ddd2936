"""Drivers for the real consumers of the devpi Secrets, one module per consumer.

Every ``check_*`` function takes the Secret bytes exactly as they sit in the Secret's ``data``
(decoded from base64 once, as the kubelet does when it projects them into a file or an env var),
starts the consumer on free loopback ports, asserts what the consumer must accept and refuse, stops
everything (also on failure) and returns a small report dict. They do not care where the bytes came
from (tests/e2e/secret_sources.py). The binaries come from tools/install_consumers.py.

    proc          processes, loopback HTTP, CheckFailed/expect (no consumer of its own)
    devpi         devpi-server / devpi-client         <- devpi-secret
    nginx         nginx, htpasswd, pip through nginx  <- devpi-basic-auth, devpi-tls
    oauth2_proxy  oauth2-proxy + stand-in OIDC        <- devpi-oauth2-proxy-secret
    keycloak      browser-less login to a real Keycloak, its clients through the admin API
    browser       a cookie-keeping HTTP client that reaches pypi.theedgeworks.ai on loopback (SNI, test CA)
    front_door    nginx + oauth2-proxy (Keycloak) + devpi-server, as the ingress of pypi.theedgeworks.ai
                  <- all of them at once (tests/e2e/test_front_door.py)

Nothing here talks to anything but 127.0.0.1 (Keycloak too runs there, tools/keycloak.py).
"""
