"""A real HTTP server on 127.0.0.1 serving weight files, and a torch hub cache of the test's own."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections import Counter

import pytest


class WeightsServer:
    """Serves ``files`` (URL path → bytes); paths in ``drop`` send half the body and close the connection
    (``drop[path]`` more times; forever when negative)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, int] = {}
        self.requests: Counter = Counter()
        self.delay_s = 0.0  # before each body: time for concurrent clients to pile up
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                server.requests[self.path] += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, 'Not Found')
                    return
                time.sleep(server.delay_s)
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if server.drop.get(self.path, 0) != 0:
                    server.drop[self.path] -= 1
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the peer sees the stream end early
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.base = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, name: str, data: bytes, folder: str = '/weights') -> str:
        """Serve ``data`` at ``folder/name``; ``{sha}`` in ``name`` becomes the first 8 hex digits of its sha256."""
        name = name.format(sha=hashlib.sha256(data).hexdigest()[:8])
        path = f'{folder}/{name}'
        self.files[path] = data
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = WeightsServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def hub_cache(tmp_path, monkeypatch):
    """An empty torch hub cache, no offline or mirror settings from the environment, no waits between retries."""
    import torch

    from imgcls.hub import download

    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)
    for var in ('IMGCLS_OFFLINE', 'IMGCLS_WEIGHTS_MIRROR', 'HF_HUB_OFFLINE'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(download, 'BACKOFF_S', 0.0)
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'
