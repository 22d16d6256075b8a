"""A small real HTTP(S) server for input fetching: serves given bytes at given paths, redirects,
stalls or streams without a length on request, and records every request it receives. It takes
POSTs too (webhook calls): each is kept, answered with its route's status."""

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    """Send the body without a Content-Length, in pieces."""
    stall: float = 0.0
    """Seconds to wait after the headers before the body."""


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FileServer:
    port: int
    scheme: str
    routes: dict[str, Route]
    hits: list[str]
    posts: list[Posted]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def file_server(routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> Iterator[FileServer]:
    hits: list[str] = []
    posts: list[Posted] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            posts.append(Posted(self.path, headers, body))
            route = routes.get(self.path, Route(b"not found", 404))
            self.send_response(route.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            hits.append(self.path)
            route = routes.get(self.path, Route(b"not found", 404))
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.stall:
                time.sleep(route.stall)
            if not route.chunked:
                self.wfile.write(route.body)
                return
            for start in range(0, len(route.body), 4096):
                piece = route.body[start : start + 4096]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            """A client that gave up on a stalled route is expected here, not an error."""

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FileServer(server.server_address[1], "https" if tls else "http", routes, hits, posts)
    finally:
        server.shutdown()
        server.server_close()
