"""Model repos as the Hugging Face Hub stores them, for tests that never leave the machine.

`HubRepo` holds a repo's files at one commit with the ids the Hub gives them: a git blob
sha1 per file, and for large (LFS) files also the sha256 that names their blob in the
local cache. `write_hub_cache` lays a repo out in a huggingface_hub cache folder by hand, as
`snapshot_download` writes it:

    models--owner--name/
        blobs/<git sha1, or sha256 for LFS files>     the contents
        snapshots/<commit>/<path> -> ../../blobs/...  relative symlinks
        refs/<branch>                                 the commit hash, no newline
        trees/<commit>.json                           the tree listing (huggingface_hub >= 2.x)

`LoopbackHub` serves such repos over HTTP on 127.0.0.1 with the few Hub routes a download
uses (revision info, tree listing, resolve), and answers unknown repos and revisions with
the Hub's 404s (X-Error-Code RepoNotFound / RevisionNotFound).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors",)   # what the Hub's default .gitattributes sends to LFS


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}"
            f"\nsize {len(data)}\n").encode()


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    refs: dict[str, str] = field(default_factory=lambda: {"main": ""})

    def __post_init__(self):
        self.refs = {name: commit or self.commit for name, commit in self.refs.items()}

    @classmethod
    def from_folder(cls, repo_id: str, folder: Path, names, **kwargs) -> "HubRepo":
        files = {name: (folder / name).read_bytes() for name in names if (folder / name).is_file()}
        return cls(repo_id, files, **kwargs)

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def blob_name(self, path: str) -> str:
        """The cache's blob file name: the ETag the Hub sends for the file."""
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(path) else git_blob_sha1(data)

    def tree_entry(self, path: str) -> dict:
        """The file as the Hub's /tree route lists it."""
        data = self.files[path]
        if not self.is_lfs(path):
            return {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        pointer = lfs_pointer(data)
        return {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(pointer),
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                        "pointerSize": len(pointer)}}

    def cache_folder_name(self) -> str:
        return "models--" + self.repo_id.replace("/", "--")


def write_hub_cache(cache_dir: Path, repo: HubRepo, allow: tuple[str, ...] | None = None) -> Path:
    """Lay `repo` out in `cache_dir` as huggingface_hub's snapshot_download does; returns
    the snapshot folder. `allow`: the files fetched (the tree listing still names all)."""
    storage = cache_dir / repo.cache_folder_name()
    snapshot = storage / "snapshots" / repo.commit
    for path, data in repo.files.items():
        if allow is not None and path not in allow:
            continue
        blob = storage / "blobs" / repo.blob_name(path)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for name, commit in repo.refs.items():
        (storage / "refs" / name).parent.mkdir(parents=True, exist_ok=True)
        (storage / "refs" / name).write_text(commit)
    listing = {"format_version": 1, "files": {
        path: {k: v for k, v in _tree_cache_entry(repo.tree_entry(path)).items() if v is not None}
        for path in sorted(repo.files)}}
    (storage / "trees").mkdir(parents=True, exist_ok=True)
    (storage / "trees" / f"{repo.commit}.json").write_text(json.dumps(listing, indent=1))
    return snapshot


def _tree_cache_entry(entry: dict) -> dict:
    lfs = entry.get("lfs") or {}
    return {"size": entry["size"], "blob_id": entry["oid"], "lfs_sha256": lfs.get("oid"),
            "lfs_size": lfs.get("size")}


@dataclass
class LoopbackHub:
    """The Hub's download routes for `repos`, on 127.0.0.1; use as a context manager."""
    repos: list[HubRepo]
    paths: list[str] = field(default_factory=list)   # every request, "METHOD /path"

    def __post_init__(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "LoopbackHub":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _find(self, repo_id: str, revision: str) -> tuple[HubRepo | None, str | None]:
        for repo in self.repos:
            if repo.repo_id == repo_id:
                commit = repo.refs.get(revision) or (revision if revision == repo.commit else None)
                return repo, commit
        return None, None

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo_id, route, revision = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo_id, route, revision, file = "/".join(parts[:2]), "resolve", parts[3], "/".join(parts[4:])
        else:
            return 404, {}, b'{"error": "no such route"}'
        repo, commit = self._find(repo_id, revision)
        if repo is None:
            return 404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}, b"{}"
        if commit is None:
            return 404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"}, b"{}"
        if route == "revision":
            body = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": p} for p in repo.files]}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        if route == "tree":
            body = [repo.tree_entry(p) for p in sorted(repo.files)]
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        if file not in repo.files:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"}, b"{}"
        data = repo.files[file]
        etag = {"X-Linked-Etag" if repo.is_lfs(file) else "ETag": f'"{repo.blob_name(file)}"'}
        return 200, {"X-Repo-Commit": commit, **etag, "Content-Type": "application/octet-stream"}, data

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self, send_body: bool):
                path = urlsplit(self.path).path
                hub.paths.append(f"{self.command} {path}")
                status, headers, body = hub.answer(self.command, path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_GET(self):
                self._handle(send_body=True)

            def do_HEAD(self):
                self._handle(send_body=False)

            def log_message(self, format, *args):
                pass

        return Handler
