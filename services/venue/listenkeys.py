"""listenKeys of the user data stream: one per account, 60 minutes from the last keepalive."""

from __future__ import annotations

import secrets

from services.venue.errors import LISTEN_KEY_MISSING, err


class ListenKeys:
    """Binance's lifecycle: POST returns the active key (extending it) or a new one; PUT extends;
    an expired or deleted key answers -1125."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self.by_account: dict[str, str] = {}
        self.expiry: dict[str, int] = {}
        self.owner: dict[str, str] = {}

    def create(self, account: str, now_ms: int) -> str:
        key = self.by_account.get(account)
        if key is None or self.expiry.get(key, 0) <= now_ms:
            if key is not None:
                self._drop(key)
            key = secrets.token_urlsafe(48)[:64]
            self.by_account[account] = key
            self.owner[key] = account
        self.expiry[key] = now_ms + self.ttl_ms
        return key

    def keepalive(self, account: str, now_ms: int) -> str:
        key = self.by_account.get(account)
        if key is None or self.expiry.get(key, 0) <= now_ms:
            raise err(LISTEN_KEY_MISSING)
        self.expiry[key] = now_ms + self.ttl_ms
        return key

    def delete(self, account: str) -> None:
        key = self.by_account.get(account)
        if key is not None:
            self._drop(key)

    def account_of(self, key: str, now_ms: int) -> str | None:
        if self.expiry.get(key, 0) <= now_ms:
            return None
        return self.owner.get(key)

    def expire_due(self, now_ms: int) -> list[tuple[str, str]]:
        """(key, account) of keys whose time ran out; they are forgotten."""
        due = [(k, self.owner[k]) for k, t in self.expiry.items() if t <= now_ms]
        for k, _ in due:
            self._drop(k)
        return due

    def force_expire(self, account: str) -> None:
        key = self.by_account.get(account)
        if key is not None:
            self.expiry[key] = 0

    def _drop(self, key: str) -> None:
        acct = self.owner.pop(key, None)
        self.expiry.pop(key, None)
        if acct is not None and self.by_account.get(acct) == key:
            del self.by_account[acct]
