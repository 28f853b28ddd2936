"""nginx and htpasswd, the consumers of ``devpi-basic-auth`` and ``devpi-tls``.

* basic auth: the htpasswd line as ingress-nginx uses it (auth-file, Authorization dropped before the
  backend), checked by ``htpasswd -vb`` and by nginx; ``check_pip_through_nginx``: pip through nginx
  to a devpi-server (tests/e2e/drivers/devpi.py).
* TLS: nginx serves the pair for the host; clients verifying against the CA and that name succeed,
  others fail (``check_tls_nginx``); ``nginx_accepts_pair`` is what ``nginx -t`` says about a pair.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import urllib.parse
from pathlib import Path

from helpers.tools import install_consumers as installed
from helpers.tools import pki
from tests.e2e.drivers.devpi import DevpiStack
from tests.e2e.drivers.proc import LOOPBACK, CheckFailed, Proc, clean_env, expect, free_port, http, run


def nginx_user_line() -> str:
    """As root the master would drop workers to 'nobody', who cannot read our 0600 files
    under a 0700 temp dir; run the workers as the current user instead."""
    if os.geteuid() != 0:
        return ""  # the user directive only applies to a root master
    import grp
    import pwd

    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


class Nginx:
    """A non-daemon nginx under its own prefix: config, logs and temp paths all inside it."""

    def __init__(self, prefix: Path, servers: str):
        self.prefix = prefix
        for d in ("logs", "tmp", "html"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        self.conf = prefix / "nginx.conf"
        p = prefix
        self.conf.write_text(f"""
{nginx_user_line()}
worker_processes 1;
error_log {p}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/client_body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    client_max_body_size 64m;
    server_tokens off;
{servers}
}}
""")
        self.proc: Proc | None = None

    def _cmd(self, *extra: str) -> list[str]:
        return [
            installed.nginx_binary(),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf),
            "-e",
            f"{self.prefix}/logs/error.log",
            *extra,
        ]

    def test_config(self) -> subprocess.CompletedProcess:
        return run(self._cmd("-t", "-g", f"pid {self.prefix}/nginx.pid;"), check=False)

    def start(self, ports: list[int]) -> "Nginx":
        t = self.test_config()
        expect(t.returncode == 0, f"nginx -t failed:\n{t.stderr}")
        self.proc = Proc(
            "nginx",
            self._cmd("-g", f"daemon off; pid {self.prefix}/nginx.pid;"),
            log=self.prefix / "logs" / "stdout.log",
        ).start()
        for port in ports:
            self.proc.wait_port(port, 20)
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def access_log_size(self) -> int:
        p = self.prefix / "logs" / "access.log"
        return p.stat().st_size if p.exists() else 0

    def access_log(self, since: int = 0) -> list[str]:
        with open(self.prefix / "logs" / "access.log", "rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace").splitlines()

    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def proxy_to(upstream: str, *headers: str) -> str:
    """The proxy part of a location, as ingress-nginx renders it (X-Outside-Url: what devpi-server builds its
    links from, harmless elsewhere); ``headers``: more ``proxy_set_header`` lines."""
    more = "".join(f"\n            proxy_set_header {h};" for h in headers)
    return f"""
            proxy_set_header Host $http_host;
            proxy_set_header X-Outside-Url $scheme://$http_host;
            proxy_set_header X-Real-IP $remote_addr;{more}
            proxy_pass {upstream};"""


def basic_auth_location(authfile: Path, upstream: str | None, path: str = "/") -> str:
    # What ingress-nginx renders for auth-type: basic / auth-secret-type: auth-file: the
    # htpasswd file from the Secret's `auth` key, and the Authorization header dropped
    # before the request reaches the backend.
    backend = proxy_to(upstream, 'Authorization ""') if upstream else "try_files /index.html =404;"
    return f"""
        location {path} {{
            auth_basic "Authentication Required";
            auth_basic_user_file {authfile};
            {backend}
        }}"""


def write_authfile(folder: Path, auth: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "auth"
    f.write_bytes(auth)
    f.chmod(0o600)
    return f


def parse_htpasswd(auth: bytes) -> list[tuple[str, str]]:
    lines = [ln for ln in auth.decode("utf-8").split("\n") if ln]
    return [tuple(ln.split(":", 1)) for ln in lines]  # type: ignore[misc]


def check_htpasswd_format(auth: bytes) -> str:
    """The contract: one `user:$2y$05$...` line ending in a newline. Returns the user."""
    expect(auth.endswith(b"\n") and not auth.endswith(b"\n\n"), f"auth must be one line ending in \\n: {auth[-5:]!r}")
    entries = parse_htpasswd(auth)
    expect(len(entries) == 1, f"expected one htpasswd entry, got {len(entries)}")
    user, h = entries[0]
    expect(user and ":" not in user, "bad user")
    expect(h.startswith("$2y$05$") and len(h) == 60, f"expected a $2y$ cost-5 bcrypt hash, got {h[:7]}… ({len(h)})")
    return user


def check_basic_auth_nginx(auth: bytes, password: str, workdir: Path) -> dict:
    """htpasswd and nginx both accept the right password and refuse wrong ones / unknown users."""
    user = check_htpasswd_format(auth)
    authfile = write_authfile(workdir / "secrets", auth)
    ht = installed.htpasswd_binary()
    for pw, want in ((password, 0), (password + "x", 3)):
        r = run([ht, "-vb", str(authfile), user, pw], check=False)
        expect(r.returncode == want, f"htpasswd -vb rc={r.returncode}, expected {want}: {r.stderr}")
    r = run([ht, "-vb", str(authfile), "nobody-" + user, password], check=False)
    expect(r.returncode == 6, f"htpasswd -vb unknown user rc={r.returncode}, expected 6")

    port = free_port()
    ng = Nginx(
        workdir / "nginx",
        f"""
    server {{
        listen {LOOPBACK}:{port};
        root {workdir / "nginx" / "html"};
        {basic_auth_location(authfile, None)}
    }}""",
    )
    (ng.prefix / "html" / "index.html").write_text("devpi-basic-auth ok\n")
    with ng:
        ng.start([port])
        url = f"http://{LOOPBACK}:{port}/"
        results = {
            "right": http(url, basic=(user, password)).status,
            "wrong_password": http(url, basic=(user, password[:-1] + ("A" if password[-1] != "A" else "B"))).status,
            "unknown_user": http(url, basic=("x" + user, password)).status,
            "no_credentials": http(url).status,
        }
        expect(
            results == {"right": 200, "wrong_password": 401, "unknown_user": 401, "no_credentials": 401},
            f"nginx basic auth: {results}\n{ng.error_log()[-2000:]}",
        )
    return {"user": user, **results}


# pip cannot be told where a host name is: this runs pip's main with socket.getaddrinfo answering the
# loopback address for that one name (argv: name, address, pip arguments), in the pip process only.
# TLS (SNI, the certificate's name) and the Host header still see the name.
_PIP_PINNED = """
import runpy, socket, sys
name, address = sys.argv[1:3]
_getaddrinfo = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **kw: _getaddrinfo(address if host == name else host, *a, **kw)
sys.argv = ["pip", *sys.argv[3:]]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def pip_download(
    index_url: str,
    package: str,
    dest: Path,
    *,
    cert: Path | None = None,
    pin: str | None = None,
    timeout: float = 120,
    install: bool = False,
    address: str = LOOPBACK,
) -> subprocess.CompletedProcess:
    """A real pip, isolated from any user config, never asking for input or keyring: `pip download -d dest`, or with
    ``install`` `pip install --target dest`. ``cert``: the CA bundle pip verifies https against; ``pin``: a host name
    pip reaches on ``address`` (127.0.0.1)."""
    python = installed.devpi_bin("python")
    launcher = [python, "-c", _PIP_PINNED, pin, address] if pin else [python, "-m", "pip"]
    # requests takes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many CI machines) over pip's --cert.
    env = {k: v for k, v in clean_env().items() if not (cert and k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"))}
    return run(
        [
            *launcher,
            "install" if install else "download",
            "--isolated",
            "--no-deps",
            "--no-cache-dir",
            "--no-input",
            "--keyring-provider",
            "disabled",
            "--disable-pip-version-check",
            *(["--cert", str(cert)] if cert else []),
            "--index-url",
            index_url,
            "--target" if install else "-d",
            str(dest),
            package,
        ],
        check=False,
        timeout=timeout,
        env=env,
    )


def check_pip_through_nginx(auth: bytes, password: str, stack: DevpiStack, workdir: Path) -> dict:
    """nginx (ingress-style basic auth, Authorization stripped) in front of devpi-server:
    pip fetches the private package with the Secret's credentials and is refused without."""
    user = check_htpasswd_format(auth)
    authfile = write_authfile(workdir / "secrets", auth)
    port = free_port()
    ng = Nginx(
        workdir / "nginx-proxy",
        f"""
    server {{
        listen {LOOPBACK}:{port};
        {basic_auth_location(authfile, stack.server.url)}
    }}""",
    )
    report: dict = {}
    with ng:
        ng.start([port])
        base = f"http://{LOOPBACK}:{port}"
        creds = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"

        ok_dir = workdir / "pip-ok"
        r = pip_download(f"http://{creds}@{LOOPBACK}:{port}{stack.simple_path}", stack.package, ok_dir)
        got = list(ok_dir.glob("*.whl")) if ok_dir.exists() else []
        expect(
            r.returncode == 0 and len(got) == 1,
            f"pip download with credentials failed rc={r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}\n"
            f"nginx:\n{ng.error_log()[-1500:]}",
        )
        expect(
            hashlib.sha256(got[0].read_bytes()).digest() == hashlib.sha256(stack.wheel.read_bytes()).digest(),
            "pip fetched different bytes than were uploaded",
        )
        report["pip_with_credentials"] = got[0].name

        no_dir = workdir / "pip-no"
        mark = ng.access_log_size()
        r = pip_download(f"{base}{stack.simple_path}", stack.package, no_dir)
        expect(
            r.returncode != 0 and not (no_dir.exists() and any(no_dir.iterdir())),
            f"pip without credentials got the package:\n{r.stdout}",
        )
        # pip does not print the status; nginx's access log has it.
        hits = [ln for ln in ng.access_log(mark) if f"{stack.simple_path}{stack.package}/" in ln and "pip/" in ln]
        expect(hits and all('" 401 ' in ln for ln in hits), f"pip without credentials: nginx log {hits}")
        report["pip_without_credentials"] = f"refused ({len(hits)} x 401)"

        bad_dir = workdir / "pip-bad"
        r = pip_download(
            f"http://{urllib.parse.quote(user)}:wrong-{secrets.token_hex(4)}@{LOOPBACK}:{port}{stack.simple_path}",
            stack.package,
            bad_dir,
        )
        expect(r.returncode != 0, "pip with a wrong password got the package")
        report["pip_wrong_password"] = "refused"

        # The file link itself is protected too, not only the simple page.
        page = http(f"{base}{stack.simple_path}{stack.package}/", basic=(user, password))
        expect(page.status == 200, f"simple page via nginx: {page.status}")
        href = page.body.decode().split('href="', 1)[1].split('"', 1)[0]
        file_url = urllib.parse.urljoin(f"{base}{stack.simple_path}{stack.package}/", href).split("#", 1)[0]
        expect(http(file_url).status == 401, "package file reachable without credentials")
        expect(http(file_url, basic=(user, password)).status == 200, "package file not served with credentials")

        # devpi's own login passes through: nginx drops Authorization, X-Devpi-Auth goes on.
        tok = stack.client.token(stack.server.url, stack.user)
        st = stack.server.auth_status(tok, via=None)
        r = http(f"{base}/+api", headers={"Accept": "application/json", "X-Devpi-Auth": tok}, basic=(user, password))
        expect(
            r.status == 200 and r.json()["result"]["authstatus"][:2] == ["ok", stack.user],
            f"devpi token through nginx: {r.status} {r.body[:200]!r} (direct: {st})",
        )
        report["devpi_token_through_nginx"] = True
    return report


def check_tls_nginx(tls_crt: bytes, tls_key: bytes, ca_pem: bytes, workdir: Path, host: str = pki.DEFAULT_HOST) -> dict:
    """nginx serves the Secret's pair for ``host``; clients that verify against the CA and
    that name succeed, clients expecting another name fail."""
    sec = workdir / "tls"
    sec.mkdir(parents=True, exist_ok=True)
    (sec / "tls.crt").write_bytes(tls_crt)
    (sec / "tls.key").write_bytes(tls_key)
    (sec / "tls.key").chmod(0o600)
    cafile = sec / "ca.crt"
    cafile.write_bytes(ca_pem)
    port = free_port()
    ng = Nginx(
        workdir / "nginx-tls",
        f"""
    server {{
        listen {LOOPBACK}:{port} ssl;
        server_name {host};
        ssl_certificate {sec / "tls.crt"};
        ssl_certificate_key {sec / "tls.key"};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ default_type text/plain; return 200 "tls ok\\n"; }}
    }}""",
    )
    report: dict = {}
    with ng:
        ng.start([port])
        ctx = ssl.create_default_context(cafile=str(cafile))
        try:
            with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    der = tls.getpeercert(binary_form=True)
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                    resp = b""
                    while chunk := tls.recv(4096):
                        resp += chunk
                    report["python_ssl"] = tls.version()
        except ssl.SSLCertVerificationError as e:
            raise CheckFailed(
                f"TLS client verifying {host} against the CA refused nginx's cert: {e.verify_message}"
            ) from e
        except ssl.SSLError as e:
            raise CheckFailed(f"TLS handshake for {host} failed: {e}") from e
        expect(resp.startswith(b"HTTP/1.1 200") and b"tls ok" in resp, f"bad response over TLS: {resp[:200]!r}")
        leaf_der = ssl.PEM_cert_to_DER_cert(
            tls_crt.decode().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        )
        expect(der == leaf_der, "nginx served a different certificate than tls.crt")

        other = "other.example.test"
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname=other):
                    raise CheckFailed(f"TLS handshake for {other} succeeded with a cert for {host}")
            except ssl.SSLCertVerificationError as e:
                report["python_ssl_other_host"] = f"refused: {e.verify_message}"

        # Without the test CA the chain is not trusted.
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
            try:
                with ssl.create_default_context().wrap_socket(raw, server_hostname=host):
                    raise CheckFailed("TLS handshake succeeded without trusting the test CA")
            except ssl.SSLCertVerificationError as e:
                report["python_ssl_untrusted"] = f"refused: {e.verify_message}"

        curl = shutil.which("curl")
        if curl:

            def curl_as(name):
                url = f"https://{name}:{port}/"
                resolve = f"{name}:{port}:{LOOPBACK}"
                cmd = [curl, "-sS", "--max-time", "10", "--cacert", str(cafile), "--resolve", resolve, url]
                return run(cmd, check=False)

            ok = curl_as(host)
            expect(
                ok.returncode == 0 and "tls ok" in ok.stdout, f"curl --resolve {host}: rc={ok.returncode} {ok.stderr}"
            )
            bad = curl_as(other)
            expect(bad.returncode == 60, f"curl for {other} rc={bad.returncode}, expected 60 (peer cert): {bad.stderr}")
            report["curl"] = "ok; other host rc=60"
    return report


def nginx_accepts_pair(tls_crt: bytes, tls_key: bytes, workdir: Path) -> tuple[bool, str]:
    """``nginx -t`` with the pair: what a real server says about a bad cert/key (hardening)."""
    sec = workdir / "tls"
    sec.mkdir(parents=True, exist_ok=True)
    (sec / "tls.crt").write_bytes(tls_crt)
    (sec / "tls.key").write_bytes(tls_key)
    ng = Nginx(
        workdir / "nginx-t",
        f"""
    server {{
        listen {LOOPBACK}:{free_port()} ssl;
        ssl_certificate {sec / "tls.crt"};
        ssl_certificate_key {sec / "tls.key"};
    }}""",
    )
    r = ng.test_config()
    return r.returncode == 0, r.stderr
