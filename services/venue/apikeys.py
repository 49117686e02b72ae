"""API keys of the venue's accounts: each account's trading key and, optionally, a read-only key.

A read-only key (``read_key_env`` / ``read_secret_env`` of the account's config) authenticates
USER_DATA reads and the listenKey endpoints; for TRADE endpoints and the WS-API's order methods it
is refused with -2015, as Binance refuses a key without the "Enable Futures" trading permission.
Keys and secrets come from the environment only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.config_sections import SimVenueConfig
from services.venue.accounts import Account


class MissingKeys(RuntimeError):
    """An account's key or secret is missing from the environment."""


@dataclass(frozen=True, slots=True)
class Credential:
    """What an API key opens: its account, the secret that signs for it, and whether it may trade."""

    account: Account
    secret: str
    can_trade: bool


def _pair(account: str, key_env: str, secret_env: str) -> tuple[str, str]:
    key, secret = os.environ.get(key_env, ""), os.environ.get(secret_env, "")
    if not key or not secret:
        raise MissingKeys(
            f"simvenue account {account!r} needs {key_env} and {secret_env} in the "
            "environment (make run writes them to run/paper.env)"
        )
    return key, secret


def account_keys(cfg: SimVenueConfig) -> dict[str, tuple[str, str]]:
    """Each account's trading (api key, secret) from the environment variables its config names."""
    return {a.name: _pair(a.name, a.api_key_env, a.api_secret_env) for a in cfg.accounts}


def read_only_keys(cfg: SimVenueConfig) -> dict[str, tuple[str, str]]:
    """The (api key, secret) of accounts that have a read-only key; both variables or neither."""
    out = {}
    for a in cfg.accounts:
        if a.read_key_env or a.read_secret_env:
            if not (a.read_key_env and a.read_secret_env):
                raise MissingKeys(f"simvenue account {a.name!r}: set both read_key_env and read_secret_env")
            out[a.name] = _pair(a.name, a.read_key_env, a.read_secret_env)
    return out


class KeyRing:
    """Looks an API key up among the trading keys, then the read-only ones."""

    def __init__(self, accounts: dict[str, Account], read_only: dict[str, tuple[str, str]]) -> None:
        self.by_key = {a.api_key: Credential(a, a.secret, True) for a in accounts.values()}
        for name, (key, secret) in read_only.items():
            if key in self.by_key:
                raise ValueError(f"simvenue account {name!r}: the read-only key equals a trading key")
            self.by_key[key] = Credential(accounts[name], secret, False)

    def lookup(self, key: str) -> Credential | None:
        return self.by_key.get(key)
