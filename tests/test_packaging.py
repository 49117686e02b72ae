"""The repository as a wheel: ``pip install .`` (not editable) gives a working ``mmctl`` and
services from any directory, with the configs and the console's page inside; the package list in
pyproject.toml is the tree's."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.helpers import PROJECT


def test_the_package_list_is_every_package_of_the_tree() -> None:
    listed = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {
        ".".join(p.parent.relative_to(PROJECT).parts)
        for top in ("common", "services")
        for p in (PROJECT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert listed - {"mm_configs", "services.console.static"} == tree


def test_an_installed_wheel_runs_mmctl_from_anywhere_with_its_own_configs(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(PROJECT), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    assert "warn" not in build.stderr.lower(), build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mm_configs/base.toml", "mm_configs/paper.toml", "services/console/static/index.html"} <= names
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MM_")}
    env |= {"PYTHONPATH": str(site), "MM_RUN_DIR": str(away / "run")}
    probe = "import services, common.config as c; print(services.__file__); print(c.CONFIG_DIR)"
    where = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=away, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    module, config_dir = where.stdout.split()
    assert module.startswith(str(site)) and config_dir == str(site / "mm_configs"), where.stdout
    status = subprocess.run(
        [sys.executable, "-m", "services.mmctl", "--timeout", "0.2", "status", "--listen", "0.2"],
        cwd=away, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert status.returncode == 3, status.stdout + status.stderr  # nothing runs: every service down
    assert "SERVICE" in status.stdout and "does not exist" not in status.stderr
