"""The model tests' shared parts: a real local HTTPS server for `models fetch`, the manifest, the command."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from nodegraph import models_cmd

REPO = Path(__file__).resolve().parent.parent


def manifest_data() -> dict:
    return json.loads((REPO / "models" / "manifest.json").read_text())


def run_models_cmd(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="nodegraph")
    models_cmd.add_parser(parser.add_subparsers(dest="command"))
    return models_cmd.run(parser.parse_args(["models", *argv]))


PAYLOAD = (REPO / "models" / "blazeface_short.onnx").read_bytes()
ERROR_PAGE = b"<!DOCTYPE html>\n<html><head><title>429 Too Many Requests</title></head><body></body></html>\n"


class HttpsModelServer:
    """A real HTTPS server on 127.0.0.1 serving PAYLOAD (or, at a path of `files`, its bytes), with a self-signed
    certificate made by openssl."""

    def __init__(self, folder: Path):
        key, self.cert = folder / "key.pem", folder / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        self.requests: list[tuple[str, str | None]] = []
        self.honour_range = True
        self.cut_after: int | None = None  # bytes sent before the connection drops mid-body
        self.stall_after: int | None = None  # bytes sent before the server stops sending, connection open
        self.extra = 0  # bytes of padding sent after the model: a different, larger file
        self.send_length: bool | str = True  # a Content-Length header, or this text as one (else none: the body
        # ends when the connection closes)
        self.pause_s = 0.0  # between blocks of 64 kB: a slow server
        self.block = 1 << 16  # bytes a block: a few, with a pause, and the server trickles
        self.files: dict[str, bytes] = {}  # other files served, by path
        self.sent = 0  # body bytes the last response got out before the client closed the connection
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                wanted = self.headers.get("Range")
                server.requests.append((self.path, wanted))
                if self.path in ("/redirect", "/redirect-loop"):
                    self.send_response(302)
                    to = "/redirect-loop" if self.path == "/redirect-loop" else "/model.onnx"
                    self.send_header("Location", f"{'https' if to == '/redirect-loop' else 'http'}://127.0.0.1:"
                                                 f"{server.port}{to}")
                    self.end_headers()
                    return
                if self.path == "/error-page":  # what a rate limit, a login wall or a captive portal answers
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(ERROR_PAGE)))
                    self.end_headers()
                    self.wfile.write(ERROR_PAGE)
                    return
                payload = server.files.get(self.path, PAYLOAD)
                start = int(wanted[len("bytes="):-1]) if wanted and server.honour_range else 0
                if start >= len(payload):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                body = memoryview(payload[start:] + bytes(server.extra))
                if server.send_length:
                    self.send_header("Content-Length", server.send_length if isinstance(server.send_length, str)
                                     else str(len(body)))
                self.end_headers()
                self.close_connection = True
                if server.cut_after is not None:
                    self.wfile.write(body[:server.cut_after])
                    return
                server.sent = 0
                for at in range(0, len(body), server.block):
                    if server.stall_after is not None and at >= server.stall_after:
                        time.sleep(5)  # longer than the client's read timeout in the tests that stall
                        return
                    try:
                        self.wfile.write(body[at:at + server.block])
                        self.wfile.flush()
                    except OSError:  # the client gave up on the rest
                        return
                    server.sent += len(body[at:at + server.block])
                    time.sleep(server.pause_s)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.cert, key)
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.client_context = ssl.create_default_context(cafile=str(self.cert))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def user_folder() -> Path:
    return Path(os.environ["NODEGRAPH_USER_MODELS"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
