"""The deployment files, validated offline: the image builds from files that exist and runs as a
non-root user; the compose stack keeps every server on loopback, mounts files that exist (or that
``mmctl alertmanager-config`` writes) where each program looks for them, and gives the market maker
an environment its configuration accepts; the systemd unit's paths agree with each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.config import load_settings
from tests.helpers import PROJECT

DEPLOY = PROJECT / "deploy"
GENERATED = {"../run/alertmanager.yml"}
"""Mounted files the operator makes first (README: mmctl alertmanager-config --out run/alertmanager.yml)."""


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text())


def test_the_image_is_multi_stage_from_existing_files_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.M)
    assert len(stages) == 2 and stages[0][1] == "build"
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (PROJECT / src).exists(), src  # build context: the repository root
    assert re.search(r"^USER mm$", text, re.M) and "useradd" in text
    assert 'CMD ["supervisord", "-n", "-c", "/app/supervisord.conf"]' in text
    # supervisord.conf starts %(here)s/.venv/bin/python: the image puts the venv beside it
    assert "command=%(here)s/.venv/bin/python -m services." in (PROJECT / "supervisord.conf").read_text()
    assert "COPY --from=build /app/.venv /app/.venv" in text


def test_the_compose_stack_stays_on_loopback_and_mounts_what_exists() -> None:
    c = _compose()
    services = c["services"]
    assert {"mm", "postgres", "prometheus", "alertmanager", "grafana", "loki", "promtail"} <= set(services)
    for name, s in services.items():
        assert s.get("network_mode") == "host", f"{name}: host networking, servers on 127.0.0.1"
        assert "ports" not in s, name
        for v in s.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).exists() or src in GENERATED, f"{name}: {src}"
            else:
                assert src in c["volumes"], f"{name}: volume {src} not declared"
    flags = " ".join(" ".join(services[n].get("command", [])) for n in ("prometheus", "alertmanager"))
    assert "--web.listen-address=127.0.0.1:9090" in flags and "--web.listen-address=127.0.0.1:9093" in flags
    assert services["grafana"]["environment"]["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert "listen_addresses=127.0.0.1" in services["postgres"]["command"]
    for f in ("loki/loki.yml", "loki/promtail.yml"):
        assert "http_listen_address: 127.0.0.1" in (DEPLOY / f).read_text()


def test_each_program_finds_its_files_where_they_are_mounted() -> None:
    services = _compose()["services"]
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    mounted = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert {f"/etc/prometheus/{f}" for f in prom["rule_files"]} <= mounted
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/mm.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert any(v.split(":")[1] == path for v in services["grafana"]["volumes"])
    promtail = yaml.safe_load((DEPLOY / "loki/promtail.yml").read_text())
    glob = promtail["scrape_configs"][0]["static_configs"][0]["labels"]["__path__"]
    run_dir = re.search(r"MM_RUN_DIR=(\S+)", (DEPLOY / "Dockerfile").read_text())
    assert run_dir and glob == f"{run_dir.group(1)}/logs/*.log"
    assert "MM_LOG_JSON=true" in (DEPLOY / "Dockerfile").read_text()  # promtail parses JSON lines


def test_the_market_makers_environment_is_accepted_by_its_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _compose()["services"]["mm"]["environment"]
    for k, v in env.items():
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v))  # compose's defaults
        monkeypatch.setenv(k, value)
    monkeypatch.delenv("MM_CONFIG_FILE", raising=False)
    s = load_settings()
    assert s.profile == "paper" and s.recorder.backend == "postgres"
    assert s.recorder.postgres_dsn.startswith("postgresql://mm@127.0.0.1:5432/")


def test_the_systemd_unit_paths_agree() -> None:
    unit = (DEPLOY / "mm-supervisord.service").read_text()
    workdir = re.search(r"^WorkingDirectory=(\S+)", unit, re.M)
    assert workdir
    for line in re.findall(r"^Exec\w+=(\S+)", unit, re.M):
        if line.startswith("/opt/"):
            assert line.startswith(workdir.group(1)), line
    assert re.search(r"^PIDFile=" + re.escape(workdir.group(1)) + r"/run/supervisord.pid$", unit, re.M)
    assert "pidfile=%(ENV_MM_RUN_DIR)s/supervisord.pid" in (PROJECT / "supervisord.conf").read_text()


def test_a_plain_supervisorctl_reads_the_config_without_mm_run_dir() -> None:
    """``supervisorctl -c supervisord.conf status`` in a shell without ``MM_RUN_DIR`` reaches the
    default run directory's socket (running or not) instead of failing on an unexpanded name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MM_")}
    ctl = Path(sys.executable).parent / "supervisorctl"
    r = subprocess.run([str(ctl), "-c", "supervisord.conf", "status"], cwd=PROJECT, env=env,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    out = r.stdout + r.stderr
    assert "cannot be expanded" not in out, out
    assert r.returncode == 0 or f"{PROJECT}/run/supervisor.sock" in out, out
