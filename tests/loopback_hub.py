"""A loopback stand-in for the Hugging Face Hub, for tests without internet.

It speaks the subset of the Hub HTTP API that `huggingface_hub`, `transformers`
and `datasets` use to push and load repositories (whoami, repo create/info,
preupload, NDJSON commits with LFS batch + PUT, tree, paths-info, resolve with
range requests, YAML validation). Repositories live in memory; every commit is a
full snapshot so revisions by branch name or commit id both resolve.

Run `python -m tests.loopback_hub` to serve on a fixed port for manual trials.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

USER = "e3d2-tester"
_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_API_TYPE = {"models": "model", "datasets": "dataset", "spaces": "space"}
_LFS_SIZE = 1024 * 1024


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    commits: list[tuple[str, dict[str, str]]] = field(
        default_factory=list
    )  # (sha, path -> blob key)
    branches: dict[str, str] = field(default_factory=dict)

    def snapshot(self, revision: str) -> tuple[str, dict[str, str]] | None:
        sha = self.branches.get(revision, revision)
        for commit_sha, files in self.commits:
            if commit_sha == sha:
                return commit_sha, files
        return None


class HubState:
    """Blobs by key (git sha1 for regular files, sha256 for LFS) and repositories by (type, id)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}
        self.lfs: set[str] = set()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.tokens: set[str] | None = None
        """The tokens it accepts (None: any); another is answered 401, as the Hub does."""

    def create(self, repo_type: str, repo_id: str) -> bool:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return False
            repo = Repo(repo_type, repo_id)
            self._commit(repo, {}, "initial commit")
            self.repos[(repo_type, repo_id)] = repo
            return True

    def _commit(self, repo: Repo, files: dict[str, str], summary: str) -> str:
        parent = repo.commits[-1][0] if repo.commits else ""
        sha = hashlib.sha1(
            f"{parent}\n{summary}\n{sorted(files.items())}\n{len(repo.commits)}".encode()
        ).hexdigest()
        repo.commits.append((sha, files))
        repo.branches["main"] = sha
        return sha

    def commit(self, repo: Repo, revision: str, lines: list[dict]) -> str:
        with self.lock:
            base = repo.snapshot(revision)
            if base is None:
                raise KeyError(revision)
            files = dict(base[1])
            summary = ""
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    summary = value.get("summary", "")
                elif key == "file":
                    content = base64.b64decode(value["content"])
                    blob = git_sha1(content)
                    self.blobs[blob] = content
                    files[value["path"]] = blob
                elif key == "lfsFile":
                    if value["oid"] not in self.blobs:
                        raise ValueError(
                            f"LFS object {value['oid']} of {value['path']} was never uploaded"
                        )
                    files[value["path"]] = value["oid"]
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: b for p, b in files.items() if not p.startswith(prefix)}
                else:
                    raise ValueError(f"unsupported commit operation {key!r}")
            return self._commit(repo, files, summary)


def git_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubHandler(BaseHTTPRequestHandler):
    server: LoopbackHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.state.errors.append(f"http.server refused {self.requestline!r}: {code} {message}")
        super().send_error(code, message, explain)

    # -- plumbing ---------------------------------------------------------------
    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def _body(self) -> bytes:
        return self.body

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, payload, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode())

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), {"X-Error-Message": message})

    def _route(self, method: str) -> None:
        parsed = urlparse(self.path)
        path, query = unquote(parsed.path), parse_qs(parsed.query)
        self.state.requests.append(f"{method} {path}")
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""  # read always: keep-alive needs it
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.state.tokens is not None and token not in self.state.tokens:
            self._error(401, "Invalid credentials in Authorization header")
            return
        try:
            for pattern, name in _ROUTES:
                match = re.fullmatch(pattern, path)
                if match and hasattr(self, f"{name}_{method.lower()}"):
                    getattr(self, f"{name}_{method.lower()}")(query=query, **match.groupdict())
                    return
            self._error(404, f"loopback hub: no route for {method} {path}")
        except _Handled:
            pass
        except KeyError as error:
            self._error(404, f"not found: {error}")
        except ValueError as error:
            self._error(400, str(error))
        except (
            Exception
        ) as error:  # a server bug answers 500 with its traceback, not a dropped connection
            self.state.errors.append(traceback.format_exc())
            self._error(500, f"loopback hub failed: {error!r}")

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def _not_found(self, code: str, message: str, head: bool = False) -> None:
        """A 404 as the Hub sends it: `huggingface_hub` maps `X-Error-Code` to its error classes."""
        body = json.dumps({"error": message}).encode()
        self._send(404, body, {"X-Error-Code": code, "X-Error-Message": message}, head=head)

    def _repo(self, api_type: str, repo_id: str) -> Repo:
        repo_type = _API_TYPE.get(api_type, api_type)
        repo = self.state.repos.get((repo_type, repo_id))
        if repo is None:
            self._not_found("RepoNotFound", f"Repository {repo_id} not found")
            raise _Handled
        return repo

    def _snapshot(self, repo: Repo, revision: str) -> tuple[str, dict[str, str]]:
        snapshot = repo.snapshot(unquote(revision))
        if snapshot is None:
            self._not_found("RevisionNotFound", f"Invalid rev id: {revision}")
            raise _Handled
        return snapshot

    def _entry(self, path: str, blob: str) -> dict:
        content = self.state.blobs[blob]
        entry = {"type": "file", "path": path, "size": len(content), "oid": git_sha1(content)}
        if blob in self.state.lfs:
            entry["lfs"] = {"oid": blob, "size": len(content), "pointerSize": 134}
        return entry

    @staticmethod
    def _folders(files: dict[str, str]) -> set[str]:
        folders = set()
        for path in files:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return folders

    # -- endpoints --------------------------------------------------------------
    def whoami_get(self, query) -> None:
        self._json(
            {
                "type": "user",
                "name": USER,
                "fullname": "E3D2 tester",
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "loopback", "role": "write"},
                },
            }
        )

    def create_post(self, query) -> None:
        payload = json.loads(self._body() or b"{}")
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or USER
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.endpoint}/{_PREFIX[repo_type]}{repo_id}"
        if not self.state.create(repo_type, repo_id):
            self._send(
                409, json.dumps({"error": "You already created this repo", "url": url}).encode()
            )
            return
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def validate_yaml_post(self, query) -> None:
        self._json({"errors": [], "warnings": []})

    def info_get(self, query, api_type: str, repo_id: str, revision: str = "main") -> None:
        repo = self._repo(api_type, repo_id)
        sha, files = self._snapshot(repo, revision)
        self._json(
            {
                "id": repo_id,
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "author": repo_id.split("/")[0],
                "sha": sha,
                "private": False,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": path} for path in sorted(files)],
            }
        )

    def preupload_post(self, query, api_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(api_type, repo_id)
        _, files = self._snapshot(repo, revision)
        payload = json.loads(self._body())
        answer = []
        for item in payload["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = item["size"] > _LFS_SIZE or b"\0" in sample
            answer.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": files.get(item["path"]),
                }
            )
        self._json({"files": answer})

    def lfs_batch_post(self, query, prefix: str, repo_id: str) -> None:
        self._repo(_PREFIX_TYPE[prefix or ""], repo_id)
        payload = json.loads(self._body())
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.blobs:
                answer["actions"] = {"upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        self._json({"transfer": "basic", "objects": objects})

    def lfs_upload_put(self, query, oid: str) -> None:
        content = self._body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise ValueError(f"uploaded content does not hash to {oid}")
        with self.state.lock:
            self.state.blobs[oid] = content
            self.state.lfs.add(oid)
        self._send(200)

    def commit_post(self, query, api_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(api_type, repo_id)
        self._snapshot(repo, revision)
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        sha = self.state.commit(repo, unquote(revision), lines)
        url = f"{self.endpoint}/{_PREFIX[repo.repo_type]}{repo_id}/commit/{sha}"
        self._json({"commitUrl": url, "commitOid": sha, "pullRequestUrl": None, "success": True})

    def tree_get(self, query, api_type: str, repo_id: str, revision: str, path: str = "") -> None:
        repo = self._repo(api_type, repo_id)
        _, files = self._snapshot(repo, revision)
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        base = (path or "").strip("/")
        prefix = f"{base}/" if base else ""
        if base and base not in self._folders(files):
            self._not_found("EntryNotFound", f"{path} does not exist on {revision}")
            raise _Handled
        entries = []
        for folder in sorted(self._folders(files)):
            if folder.startswith(prefix) and (recursive or "/" not in folder[len(prefix) :]):
                entries.append(
                    {
                        "type": "directory",
                        "path": folder,
                        "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    }
                )
        for file_path, blob in sorted(files.items()):
            if file_path.startswith(prefix) and (recursive or "/" not in file_path[len(prefix) :]):
                entries.append(self._entry(file_path, blob))
        self._json(entries)

    def paths_info_post(self, query, api_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(api_type, repo_id)
        _, files = self._snapshot(repo, revision)
        body = self._body().decode()
        form = parse_qs(body) if not body.startswith("{") else json.loads(body)
        paths = form.get("paths", [])
        folders = self._folders(files)
        entries = []
        for path in [paths] if isinstance(paths, str) else paths:
            path = path.strip("/")
            if path in files:
                entries.append(self._entry(path, files[path]))
            elif path in folders:
                entries.append(
                    {
                        "type": "directory",
                        "path": path,
                        "oid": hashlib.sha1(path.encode()).hexdigest(),
                    }
                )
        self._json(entries)

    def refs_get(self, query, api_type: str, repo_id: str) -> None:
        repo = self._repo(api_type, repo_id)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
            for name, sha in repo.branches.items()
        ]
        self._json({"branches": branches, "converts": [], "tags": []})

    def resolve_get(
        self, query, prefix: str, repo_id: str, revision: str, path: str, head: bool = False
    ) -> None:
        repo = self._repo(_PREFIX_TYPE[prefix or ""], repo_id)
        sha, files = self._snapshot(repo, revision)
        if path not in files:
            self._not_found("EntryNotFound", f"{path} not found", head=head)
            return
        blob = files[path]
        content = self.state.blobs[blob]
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": sha,
            "Accept-Ranges": "bytes",
        }
        etag = f'"{blob}"'
        if blob in self.state.lfs:
            headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(len(content))})
        headers["ETag"] = etag
        status = 200
        ranges = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if ranges and content:
            start = int(ranges.group(1) or 0)
            end = min(
                int(ranges.group(2)) if ranges.group(2) else len(content) - 1, len(content) - 1
            )
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        headers["Content-Length"] = str(len(content))
        self._send(status, content, headers, head=head)

    def resolve_head(self, query, **kwargs) -> None:
        self.resolve_get(query, head=True, **kwargs)


class _Handled(Exception):
    """The handler already answered (a Hub-style 404)."""


_PREFIX_TYPE = {"": "models", "datasets/": "datasets", "spaces/": "spaces"}
_REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
_ROUTES = [
    (r"/api/whoami-v2", "whoami"),
    (r"/api/repos/create", "create"),
    (r"/api/validate-yaml", "validate_yaml"),
    (rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}", "info"),
    (rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/revision/(?P<revision>[^/]+)", "info"),
    (
        rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/preupload/(?P<revision>[^/]+)",
        "preupload",
    ),
    (rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/commit/(?P<revision>[^/]+)", "commit"),
    (
        rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?",
        "tree",
    ),
    (
        rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/paths-info/(?P<revision>[^/]+)",
        "paths_info",
    ),
    (rf"/api/(?P<api_type>models|datasets|spaces)/{_REPO}/refs", "refs"),
    (rf"/(?P<prefix>datasets/|spaces/)?{_REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
    (r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
    (
        rf"/(?P<prefix>datasets/|spaces/)?{_REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)",
        "resolve",
    ),
]


class LoopbackHub(ThreadingHTTPServer):
    """An in-memory Hub on 127.0.0.1; `endpoint` is the value for `HF_ENDPOINT`."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), HubHandler)
        self.state = HubState()
        self.endpoint = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoopbackHub:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address) -> None:
        # A client closing a keep-alive connection is not a test failure.
        pass


if __name__ == "__main__":  # pragma: no cover - manual trials
    hub = LoopbackHub(port=8765)
    print(f"serving a loopback Hub at {hub.endpoint}; export HF_ENDPOINT={hub.endpoint}")
    hub.serve_forever()
