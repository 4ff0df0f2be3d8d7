"""A generated ZeroGPU Space folder in an environment of its own: Python 3.12 and the folder's
own requirements.txt (torch 2.11.0 from the package index, several GB), started on ZeroGPU
against the loopback stand-in for the platform's device API.

Slow and heavy, so it runs only when asked: DIGITGAN_SPACE_VENV=/path/to/venv names the
environment to use (made with `python3.12 -m venv PATH` if it does not exist yet; the folder's
requirements are installed into it either way, which costs nothing once they are there).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.zerogpu_app import check_generate, launch_digitgan, stop
from tests.support.zerogpu_standin import ZeroGPUStandIn

VENV = os.environ.get("DIGITGAN_SPACE_VENV")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VENV, reason="set DIGITGAN_SPACE_VENV to a Python 3.12 venv path to run it"),
    pytest.mark.timeout(3600),
]


def test_the_zerogpu_folder_installs_and_starts_in_its_own_python_312(tmp_path):
    from gradio_client import Client

    from gan.space.folder import build_space_folder

    out = build_space_folder(tmp_path / "space", kind="zerogpu")
    venv = Path(VENV)
    python = venv / "bin" / "python"
    if not python.exists():
        maker = shutil.which("python3.12")
        assert maker, "python3.12 is needed to make the venv"
        subprocess.run([maker, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", str(out / "requirements.txt")], check=True, timeout=3000)
    version = subprocess.run([str(python), "-c", "import sys, torch; print(sys.version_info[:2], torch.__version__)"],
                             capture_output=True, text=True, check=True).stdout
    assert version.startswith("(3, 12)") and "2.11.0" in version
    with ZeroGPUStandIn() as standin:
        app = launch_digitgan(out / "app.py", standin, tmp_path, python=str(python),
                              DIGITGAN_WEIGHTS=str(out / "weights"))
        try:
            assert [r.path for r in standin.requests] == ["/startup-report"]
            check_generate(Client(app.url, verbose=False))
        finally:
            stop(app)
