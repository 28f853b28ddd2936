"""A stand-in HTTP server for tests: a ThreadingHTTPServer on loopback, served from a daemon thread while a `with`
block runs (the OIDC provider of the oauth2-proxy e2e, the Keycloak stand-in of the no_log failure tests)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler whose answers are JSON: subclasses write do_GET/do_POST with ``self._send(code, body)``."""

    def log_message(self, *args):
        pass

    def _send(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ServedInThread:
    """Subclasses build their handler class, then call ``serve(handler)``; ``with`` starts and stops the server."""

    server: ThreadingHTTPServer

    def serve(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def server_port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
