"""``mmctl alertmanager-config``: the Alertmanager configuration from ``[alerts]`` and the environment.

Alertmanager (Debian's ``prometheus-alertmanager``) reads YAML and does not expand environment
variables, and 0.25 can read only some secrets from files; so the configuration is written here,
with each channel's secret taken from the environment variable ``[alerts]`` names, to a file only
its owner can read (``--out``, mode 0600; JSON, which YAML reads). A channel whose secret or
address is unset is left out of every route, and the command says which; with no channel at all it
refuses. Routes follow seed 004's severities (``[alerts] routes``): P0 pages every channel at once
and repeats every 15 minutes, P1 reaches the operators' chat, P2 is a digest.

    set -a; . ./alerts.env; set +a
    mmctl alertmanager-config --out run/alertmanager.yml
    prometheus-alertmanager --config.file=run/alertmanager.yml --web.listen-address=127.0.0.1:9093
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.config import ConfigError, load_settings
from common.config_sections import AlertsConfig
from services.mmctl.commands.keys import print_or_write

TEMPLATE = (
    "{{ range .Alerts }}[{{ .Labels.severity }}] {{ .Labels.alertname }}: {{ .Annotations.summary }}"
    "{{ if .Annotations.runbook_url }} ({{ .Annotations.runbook_url }}){{ end }}\n{{ end }}"
)
"""One line per alert: severity, name, summary and runbook, in every channel."""


class AlertConfigError(ValueError):
    """The configuration cannot be made (no channel usable)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alertmanager-config", help="write the Alertmanager config ([alerts] + secrets from the environment)"
    )
    p.add_argument("--out", type=Path, help="write here (mode 0600) instead of printing")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def channels(a: AlertsConfig, env: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each usable channel's receiver entry, and why the others were left out."""
    out: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    token = env.get(a.telegram_token_env, "")
    if token and a.telegram_chat_id:
        out["telegram"] = {"telegram_configs": [{
            "bot_token": token, "chat_id": a.telegram_chat_id, "api_url": a.telegram_api_url,
            "parse_mode": "", "message": TEMPLATE, "send_resolved": True,
        }]}  # fmt: skip
    else:
        skipped.append(f"telegram ({a.telegram_token_env} and alerts.telegram_chat_id)")
    hook = env.get(a.slack_webhook_env, "")
    if hook:
        out["slack"] = {"slack_configs": [{
            "api_url": hook, "channel": a.slack_channel, "text": TEMPLATE, "send_resolved": True,
        }]}  # fmt: skip
    else:
        skipped.append(f"slack ({a.slack_webhook_env})")
    if a.email_to and a.email_from and a.email_smarthost:
        mail: dict[str, Any] = {
            "to": a.email_to, "from": a.email_from, "smarthost": a.email_smarthost,
            "require_tls": a.email_require_tls, "text": TEMPLATE, "send_resolved": True,
        }  # fmt: skip
        if a.email_username:
            mail.update(auth_username=a.email_username, auth_password=env.get(a.email_password_env, ""))
        out["email"] = {"email_configs": [mail]}
    else:
        skipped.append("email (alerts.email_to, email_from and email_smarthost)")
    secret = env.get(a.wecom_secret_env, "")
    if secret and a.wecom_corp_id and a.wecom_agent_id:
        out["wecom"] = {"wechat_configs": [{
            "api_secret": secret, "corp_id": a.wecom_corp_id, "agent_id": a.wecom_agent_id,
            "to_user": a.wecom_to_user, "api_url": a.wecom_api_url, "message": TEMPLATE,
            "send_resolved": True,
        }]}  # fmt: skip
    else:
        skipped.append(f"wecom ({a.wecom_secret_env}, alerts.wecom_corp_id and wecom_agent_id)")
    return out, skipped


def build(a: AlertsConfig, env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The Alertmanager configuration, and the channels left out (see the module docstring)."""
    usable, skipped = channels(a, env)
    if not usable:
        raise AlertConfigError("no alert channel is configured: " + "; ".join(skipped))
    receivers: list[dict[str, Any]] = [{"name": "nobody"}]
    routes: list[dict[str, Any]] = []
    for sev in ("P0", "P1", "P2"):
        chosen = [c for c in a.routes.get(sev, []) if c in usable]
        if not chosen:
            continue
        entry: dict[str, Any] = {"name": sev}
        for c in chosen:
            entry.update(usable[c])
        receivers.append(entry)
        routes.append({
            "receiver": sev, "matchers": [f'severity="{sev}"'], "repeat_interval": a.repeat.get(sev, "1h"),
            "group_wait": a.group_wait.get(sev, "30s"),
        })  # fmt: skip
    config = {
        "route": {
            "receiver": "nobody", "group_by": ["alertname", "symbol"], "group_wait": "30s",
            "group_interval": "1m", "repeat_interval": "4h", "routes": routes,
        },
        "inhibit_rules": [
            # a service that is down explains everything else it would have reported
            {"source_matchers": ['alertname="ServiceDown"'], "target_matchers": ['severity=~"P1|P2"']},
        ],
        "receivers": receivers,
    }  # fmt: skip
    return config, skipped


def run_offline(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.profile)
        config, skipped = build(settings.alerts, os.environ)
    except (ConfigError, AlertConfigError) as exc:
        print(f"mmctl alertmanager-config: {exc}", file=sys.stderr)
        return 2
    for s in skipped:
        print(f"mmctl alertmanager-config: left out {s}: not set", file=sys.stderr)
    if not print_or_write("alertmanager-config", json.dumps(config, indent=2) + "\n", args.out, args.force):
        return 1
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
