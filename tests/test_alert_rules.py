"""Prometheus config and alert rules: they load, and every alert fires on its hand-computed case
(``deploy/alerts_test.yml``, run by Prometheus's own ``promtool test rules``), and names only
metrics the product exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _promtool() -> str:
    tool = shutil.which("promtool")
    assert tool, (
        "promtool is missing: install Debian's prometheus package (apt-get install prometheus; "
        ".ci/run does it)"
    )
    return tool


def _run(*args: str) -> str:
    p = subprocess.run([_promtool(), *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def test_the_prometheus_config_loads_the_rules_and_points_at_alertmanager() -> None:
    assert "SUCCESS: 2 rule files found" in _run("check", "config", "prometheus.yml")
    cfg = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["alerts.yml", "recording.yml"]
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    venue = [t for c in jobs["mm-venue"]["static_configs"] for t in c["targets"]]
    assert venue == ["127.0.0.1:9106"], "the paper-only venue has a job of its own (no ServiceDown)"


def test_every_alert_fires_on_its_case_in_promtool() -> None:
    _run("check", "rules", "alerts.yml")
    assert "SUCCESS" in _run("test", "rules", "alerts_test.yml")
    rules = [r for g in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((DEPLOY / "alerts_test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c.get("exp_alerts")}
    names = {r["alert"] for r in rules}
    assert names - fired == set(), "every alert has a case where it fires"
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for r in rules:
        assert r["labels"]["severity"] in ("P0", "P1", "P2"), r["alert"]
        assert r["annotations"]["summary"], r["alert"]
        assert r["annotations"]["runbook_url"] == f"docs/runbook.md#{r['alert'].lower()}"
        assert f"\n## {r['alert']}\n" in runbook, r["alert"]


def test_the_rules_name_only_metrics_the_product_exports() -> None:
    """Every mm_* series a rule reads is defined in the code (a counter's ``_total`` included)."""
    code = "\n".join(p.read_text() for d in ("services", "common") for p in (ROOT / d).rglob("*.py"))
    defined = set(re.findall(r'"(mm_[a-z0-9_]+)"', code))
    exported = defined | {f"{n}_total" for n in defined if not n.endswith("_total")}
    used = set(re.findall(r"\b(mm_[a-z0-9_]+)", (DEPLOY / "alerts.yml").read_text()))
    assert used and used <= exported, sorted(used - exported)
    recording = yaml.safe_load((DEPLOY / "recording.yml").read_text())["groups"][0]["rules"]
    sources = {r["expr"] for r in recording}
    assert sources <= exported, sorted(sources - exported)


DASHBOARD = DEPLOY / "grafana" / "dashboards" / "market-maker.json"


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of the Grafana dashboard."""
    d = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in d["panels"] for t in p["targets"]]


def dashboard_metrics() -> set[str]:
    """The product's metric names the dashboard reads (a histogram by its base name)."""
    names = {m for _, e in dashboard_exprs() for m in re.findall(r"\b(mm_[a-z0-9_]+)", e)}
    return {re.sub(r"_bucket$", "", n) for n in names}


def test_every_dashboard_panel_parses_as_promql(tmp_path: Path) -> None:
    """Each target's expression, with Grafana's variables filled in, is valid PromQL: promtool
    parses it as a recording rule. Seed 002's panels are all there."""
    exprs = dashboard_exprs()
    titles = {t for t, _ in exprs}
    for want in ("PnL", "Inventory", "Quotes against mid", "spread", "per minute", "latency", "Risk mode",
                 "Market data", "Rate-limit"):  # fmt: skip
        assert any(want.lower() in t.lower() for t in titles), want
    rules = [
        {
            "record": f"panel_{i}",
            "expr": e.replace("$symbol", "ETHUSDC|BTCUSDC").replace("$__rate_interval", "1m"),
        }
        for i, (_, e) in enumerate(exprs)
    ]
    f = tmp_path / "panels.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in _run("check", "rules", str(f))
    prov = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = prov["datasources"][0]["uid"]
    d = json.loads(DASHBOARD.read_text())
    assert {p["datasource"]["uid"] for p in d["panels"]} == {uid}
    assert d["templating"]["list"][0]["name"] == "symbol"
