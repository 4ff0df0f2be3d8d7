"""The package as users install it: `pip wheel .` carries the modules and their package data
(the static page, the shipped classifier), and the installed package imports from any folder."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.support.processes import REPO_ROOT, core_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def pip(*args: str, cwd=REPO_ROOT) -> None:
    # --no-build-isolation and --no-index: the build backend installed here, no registry reached
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd, check=True,
                   env=core_env(), capture_output=True, timeout=240)


def test_the_wheel_carries_the_package_data_and_imports_from_anywhere(tmp_path):
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), ".")
    (wheel,) = (tmp_path / "dist").glob("digitgan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "gan/space/web").iterdir()}
    assets = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "gan/model/assets").iterdir()}
    assert web and assets and web | assets <= names
    assert not any(name.startswith(("tests/", "benchmarks/", "app_tabs/")) for name in names)

    pip("install", "--no-deps", "--no-index", "--target", str(tmp_path / "site"), str(wheel))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**core_env(), "PYTHONPATH": str(tmp_path / "site")}  # the installed copy, not the checkout
    code = ("import gan, gan.space, gan.serving.service\n"
            "from gan.model.classifier import CLASSIFIER_PATH\n"
            "from gan.space.static_site import WEB_SOURCES as WEB\n"
            "print(gan.__file__, CLASSIFIER_PATH.is_file(), (WEB / 'index.html').is_file())")
    shown = subprocess.run([sys.executable, "-c", code], cwd=outside, env=env, capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    path, classifier, page = shown.stdout.split()
    assert path.startswith(str(tmp_path / "site")) and classifier == "True" and page == "True"
