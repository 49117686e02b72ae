"""``mmctl accounts``: the trading accounts, their gateway instances, symbols and key variables.

With several accounts (``[accounts.<name>]`` in the config) each has its own gateway instance,
``gateway-<name>``, run by supervisord from a generated program file: ``make run`` calls
``mmctl accounts --supervisor run/supervisor.d/accounts.conf`` (and, in the paper profiles,
``--paper-env run/paper.env`` to add random paper keys for each account the file lacks). Nothing
here touches the bus.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from common.config import PROJECT_ROOT, SPOT_GATEWAY, Settings
from services.mmctl.context import Ctl, print_json

PROGRAM = """[program:{name}]
command={root}/.venv/bin/python -m services.{module} {args}
directory={root}
priority={priority}
autostart=true
autorestart=true
startsecs=1
startretries=100
stopsignal=TERM
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=%(ENV_MM_RUN_DIR)s/logs/{name}.log
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=5
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accounts", help="the trading accounts: gateway, symbols, key variables")
    p.add_argument("--json", action="store_true")
    p.add_argument("--supervisor", type=Path, help="write the extra gateways' supervisord programs here")
    p.add_argument("--paper-env", type=Path, help="add random paper keys for accounts this file lacks")


def rows(settings: Settings) -> list[dict[str, Any]]:
    out = []
    for name, gw in zip(settings.account_names, settings.gateways, strict=True):
        key_var, secret_var = settings.account_key_vars(name)
        key, secret = settings.account_credentials(name)
        out.append(
            {
                "account": name,
                "gateway": gw,
                "symbols": settings.account_symbols(name),
                "key_vars": [key_var, secret_var],
                "keys_set": bool(key and secret),
            }
        )
    return out


def supervisor_programs(settings: Settings, root: Path = PROJECT_ROOT) -> str:
    """A supervisord program per extra instance: each extra account's gateway and, with spot
    symbols, the spot market data (empty without either)."""
    head = (
        "; Written by `mmctl accounts --supervisor` (make run): one gateway per extra account, and\n"
        "; marketdata-spot and gateway-spot when spot_symbols are configured.\n\n"
    )
    progs = [
        PROGRAM.format(name=gw, module="gateway", args=f"--account {a}", root=root, priority=30)
        for a, gw in zip(settings.account_names[1:], settings.gateways[1:], strict=True)
    ]
    if settings.spot_symbols:
        md = {"module": "marketdata", "args": "--market spot", "priority": 20}
        progs.append(PROGRAM.format(name="marketdata-spot", root=root, **md))
        gw = {"module": "gateway", "args": "--market spot", "priority": 30}
        progs.append(PROGRAM.format(name=SPOT_GATEWAY, root=root, **gw))
        guard = {"module": "guardian", "args": "", "priority": 30}
        progs.append(PROGRAM.format(name="guardian", root=root, **guard))
    return head + "\n".join(progs) if progs else head


def add_paper_keys(settings: Settings, path: Path) -> list[str]:
    """Append a random key pair for every extra account whose variables ``path`` lacks; the names added."""
    text = path.read_text() if path.exists() else ""
    have = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line}
    added: list[str] = []
    lines = []
    for name in settings.account_names[1:]:
        key_var, secret_var = settings.account_key_vars(name)
        if key_var not in have:
            lines.append(f"{key_var}=paper-{name}-{secrets.token_hex(12)}")
            added.append(key_var)
        if secret_var not in have:
            lines.append(f"{secret_var}={secrets.token_hex(32)}")
            added.append(secret_var)
    if lines:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(("" if not text or text.endswith("\n") else "\n") + "\n".join(lines) + "\n")
    return added


async def run(ctl: Ctl, args: argparse.Namespace) -> int:
    s = ctl.settings
    if args.supervisor is not None:
        args.supervisor.parent.mkdir(parents=True, exist_ok=True)
        args.supervisor.write_text(supervisor_programs(s))
    if args.paper_env is not None:
        if not s.paper:
            print(f"mmctl accounts: --paper-env is for the paper profiles, not {s.profile}")
            return 2
        add_paper_keys(s, args.paper_env)
    if args.supervisor is not None or args.paper_env is not None:
        return 0
    if args.json:
        for r in rows(s):
            print_json(r)
        return 0
    print(f"{'ACCOUNT':<10} {'GATEWAY':<14} {'SYMBOLS':<28} KEYS")
    for r in rows(s):
        keys = f"{' '.join(r['key_vars'])} ({'set' if r['keys_set'] else 'NOT SET'})"
        print(f"{r['account']:<10} {r['gateway']:<14} {','.join(r['symbols']):<28} {keys}")
    return 0
