"""The onnxruntime-web files the static page runs on, taken from the npm registry's package.

One pinned version, its WebAssembly backend only: the ES module `ort.wasm.min.mjs` and the
SIMD build `ort-wasm-simd-threaded.{mjs,wasm}` it loads (the same build runs with one thread
or, on a cross-origin isolated page, several). The files are not part of the repository:
`npm pack` fetches the package once into a cache folder outside git, and every file is checked
against the sha256 pinned here before it is used, so an export is the same on every machine.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..files import atomic_write_bytes, file_sha256

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
LICENSE = "MIT"
# sha256 of each file as published in onnxruntime-web@1.30.0 (package/dist/...).
FILES = {
    "ort.wasm.min.mjs": "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm": "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
}
# The page loads ort.wasm.min.mjs, which imports the glue ort-wasm-simd-threaded.mjs from
# env.wasm.wasmPaths; the glue would fetch this WebAssembly, but the page fetches its gzip itself
# (the export ships WASM + ".gz") and hands the inflated bytes over as env.wasm.wasmBinary.
WASM = "ort-wasm-simd-threaded.wasm"
NPM_TIMEOUT_S = 300


class OrtWebError(RuntimeError):
    """The onnxruntime-web files could not be found, fetched or verified; says what to do."""


def cache_folder() -> Path:
    """$DIGITGAN_CACHE/onnxruntime-web/VERSION, else ~/.cache/digitgan/onnxruntime-web/VERSION."""
    root = os.environ.get("DIGITGAN_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "digitgan"
    return base / PACKAGE / VERSION


def _cached_ok(folder: Path) -> bool:
    return all((folder / name).is_file() and file_sha256(folder / name) == sha
               for name, sha in FILES.items())


def is_cached() -> bool:
    """Whether the cache folder holds every pinned file, verified (no npm needed then)."""
    return _cached_ok(cache_folder())


def _npm_pack(destination: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise OrtWebError(
            f"npm was not found, and the export needs {PACKAGE}@{VERSION} from the npm registry. "
            f"Install Node.js with npm (e.g. `apt-get install npm`) and run the export again, or "
            f"put the files {', '.join(FILES)} from that package's dist/ folder into "
            f"{cache_folder()} (set $DIGITGAN_CACHE to use another cache folder).")
    try:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination",
                               str(destination), "--silent"], capture_output=True, text=True,
                              timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise OrtWebError(f"`npm pack {PACKAGE}@{VERSION}` took over {NPM_TIMEOUT_S} s; "
                          "is the npm registry reachable?") from None
    tarballs = sorted(destination.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise OrtWebError(f"`npm pack {PACKAGE}@{VERSION}` failed (exit {done.returncode}): "
                          f"{(done.stderr or done.stdout).strip()[-500:]}")
    return tarballs[0]


def _unpack(tarball: Path, folder: Path) -> None:
    """Copy the pinned files out of the package, each verified before it lands in the cache."""
    with tarfile.open(tarball, "r:gz") as tar:
        for name, sha in FILES.items():
            try:
                member = tar.extractfile(f"package/dist/{name}")
            except KeyError:
                member = None
            if member is None:
                raise OrtWebError(f"{tarball.name} has no dist/{name}: not {PACKAGE}@{VERSION}?")
            data = member.read()
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                raise OrtWebError(f"dist/{name} of {PACKAGE}@{VERSION} has sha256 {actual}, "
                                  f"expected {sha}: the package is not the one this export pins")
            atomic_write_bytes(folder / name, data)


def ort_web_files() -> dict[str, Path]:
    """{file name: path} of the verified files, fetching the package with npm when the cache
    lacks them. Raises OrtWebError saying what to do (npm missing, a failed fetch, a hash)."""
    folder = cache_folder()
    if not _cached_ok(folder):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="digitgan-npm-") as tmp:
            _unpack(_npm_pack(Path(tmp)), folder)
        if not _cached_ok(folder):
            raise OrtWebError(f"the files in {folder} do not match their pinned sha256")
    return {name: folder / name for name in FILES}
