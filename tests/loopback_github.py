"""A loopback stand-in for GitHub's trees API, raw host and LFS media host, with faults to order.

Serves a repository given as {path: bytes} under one address:
`/api/repos/<owner>/<repo>/git/trees/<rev>`, `/raw/<owner>/<repo>/<rev>/<path>`
and `/media/<owner>/<repo>/<rev>/<path>`, honouring `Range: bytes=N-`. Faults:
`lfs` (the raw host serves a pointer, the media host the content),
`lfs_missing` (a pointer whose object the media host does not have),
`corrupt` (the tree lists the true blob id, the hosts serve other bytes),
`omit` (left out of the tree), `drop` ({path: n}: the next `n` requests send
the full Content-Length but close after half the bytes), `endless` (the hosts send the file
and then 8 MiB more, without a Content-Length, as a broken mirror did).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(f"blob {len(content)}\0".encode() + content).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
    oid = hashlib.sha256(content).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n"
    ).encode()


@dataclass
class FakeRepo:
    owner: str
    repo: str
    revision: str
    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)
    lfs_missing: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    omit: set[str] = field(default_factory=set)
    drop: dict[str, int] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(path, Range header) of every request, in order."""

    def raw_bytes(self, path: str) -> bytes:
        content = self.files[path]
        return lfs_pointer(content) if path in self.lfs | self.lfs_missing else content

    def tree(self) -> dict:
        entries = []
        for path in sorted(self.files):
            if path in self.omit:
                continue
            raw = self.raw_bytes(path)
            entries.append(
                {"path": path, "type": "blob", "size": len(raw), "sha": git_blob_sha1(raw)}
            )
        return {"sha": self.revision, "tree": entries, "truncated": False}


class _Handler(BaseHTTPRequestHandler):
    repo: FakeRepo

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        repo = self.repo
        repo.requests.append((self.path, self.headers.get("Range")))
        prefix = f"/{repo.owner}/{repo.repo}/{repo.revision}/"
        api = f"/api/repos/{repo.owner}/{repo.repo}/git/trees/{repo.revision}"
        if self.path.split("?")[0] == api:
            return self._send(json.dumps(repo.tree()).encode(), "application/json")
        for host in ("/raw", "/media"):
            if self.path.startswith(host + prefix):
                path = self.path[len(host + prefix) :]
                if path not in repo.files or path in repo.omit:
                    break
                if host == "/raw":
                    body = repo.raw_bytes(path)
                elif path in repo.lfs:
                    body = repo.files[path]
                else:
                    break
                if path in repo.corrupt:
                    body = bytes(b ^ 0x5A for b in body)
                if path in repo.endless:
                    return self._send_endless(body)
                return self._send(body, "application/octet-stream", drop_key=path)
        self.send_error(404)

    def _send_endless(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(body)
            for _ in range(128):
                self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what it should do

    def _send(self, body: bytes, content_type: str, drop_key: str | None = None) -> None:
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[len("bytes=") :].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
        payload = body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        if drop_key is not None and self.repo.drop.get(drop_key, 0) > 0:
            self.repo.drop[drop_key] -= 1
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class LoopbackGitHub:
    """`with LoopbackGitHub(repo) as url:` serves `repo` on 127.0.0.1 until the block ends."""

    def __init__(self, repo: FakeRepo):
        handler = type("Handler", (_Handler,), {"repo": repo})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
