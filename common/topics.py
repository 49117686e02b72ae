"""Every bus topic is built here and nowhere else.

Topics are dotted, general to specific (``md.book.ETHUSDC``). A subscription to a *family* ends
with a dot (``md.book.``), so ``md.book.ETH`` can never match ``md.book.ETHUSDC``: ZeroMQ
matches prefixes, and the trailing dot makes the prefix end on a boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def _leaf(family: str, name: str) -> str:
    if not name or "." in name:
        raise ValueError(f"topic leaf must be a non-empty name without dots, got {name!r}")
    return f"{family}.{name}"


def family(*parts: str) -> str:
    """A family subscription: ``family("md", "book")`` is ``"md.book."``."""
    return ".".join(parts) + "."


# market data
def md_book(symbol: str) -> str:
    return _leaf("md.book", symbol)


def md_trade(symbol: str) -> str:
    return _leaf("md.trade", symbol)


def md_mark(symbol: str) -> str:
    return _leaf("md.mark", symbol)


def md_features(symbol: str) -> str:
    return _leaf("md.features", symbol)


def md_status(symbol: str) -> str:
    return _leaf("md.status", symbol)


def md_instrument(symbol: str) -> str:
    return _leaf("md.instrument", symbol)


# strategy and risk
def strategy_target(symbol: str) -> str:
    return _leaf("strategy.target", symbol)


def risk_target(symbol: str) -> str:
    return _leaf("risk.target", symbol)


RISK_STATE = "risk.state"
RISK_EVENT = "risk.event"

# order management
OMS_ACCOUNT = "oms.account"
OMS_EVENT = "oms.event"
OMS_LATENCY = "oms.latency"


def oms_order(symbol: str) -> str:
    return _leaf("oms.order", symbol)


def oms_fill(symbol: str) -> str:
    return _leaf("oms.fill", symbol)


def oms_funding(symbol: str) -> str:
    return _leaf("oms.funding", symbol)


def oms_position(symbol: str) -> str:
    return _leaf("oms.position", symbol)


# system
def sys_heartbeat(service: str) -> str:
    return _leaf("sys.heartbeat", service)


def sys_status(service: str) -> str:
    return _leaf("sys.status", service)


def sys_command(service: str) -> str:
    return _leaf("sys.command", service)


def state(service: str) -> str:
    return _leaf("state", service)


ALL = ""
"""The empty prefix: every topic (the recorder and ``mmctl tap`` of everything)."""


# ---- ownership ----------------------------------------------------------------------------------

_FAMILY_OWNERS = {"md": "marketdata", "strategy": "strategy", "risk": "risk", "oms": "gateway"}


def role(service: str) -> str:
    """The service an instance is of: ``gateway-b`` (an extra account's gateway) is a ``gateway``."""
    return service.split("-", 1)[0]


def owner(topic: str) -> str:
    """The one service that may publish ``topic``; ``""`` when no service may (not a bus topic).

    ``md.*`` is marketdata's, ``strategy.*`` strategy's, ``risk.*`` risk's, ``oms.*`` the
    gateway's (any gateway instance's: each account has one, see :func:`role`);
    ``sys.<kind>.<service>`` and ``state.<service>`` belong to the service they name.
    A subscriber acts on a topic only from its owner (see PROTOCOL.md, "Ownership").
    """
    head, _, rest = topic.partition(".")
    fixed = _FAMILY_OWNERS.get(head)
    if fixed is not None:
        return fixed
    if head == "sys":
        kind, _, service = rest.partition(".")
        return service if kind and service and "." not in service else ""
    if head == "state":
        return rest if rest and "." not in rest else ""
    return ""


def owned_by(topic: str, service: str) -> bool:
    """Whether ``service`` may publish ``topic``: it is the owner, or an instance of the family's
    owner (``gateway-b`` on ``oms.*``; not on ``sys.*.gateway``, which names another instance)."""
    who = owner(topic)
    if not who:
        return False
    if who == service:
        return True
    return _FAMILY_OWNERS.get(topic.partition(".")[0]) == role(service) != service


def subscription_owner(pattern: str) -> str:
    """The one service owning every topic ``pattern`` selects; ``""`` when its topics have several
    owners (``""``, ``sys.heartbeat.``, ``state.``), so it must be heard from every publisher."""
    if not pattern.endswith("."):
        return owner(pattern)
    return _FAMILY_OWNERS.get(pattern.partition(".")[0], "")


def by_publisher(
    patterns: Iterable[str], publishers: Iterable[str], instances: Mapping[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """The patterns to ask each publisher for: an owned pattern (``risk.target.``) from its owner
    only (from each of its ``instances``, e.g. every account's gateway for ``oms.``), one that spans
    owners (``""``, ``sys.heartbeat.``) from every one of ``publishers``.

    Every topic has one owner, so a message matches the patterns of one publisher only: one
    socket per publisher hears each message once.
    """
    everyone = list(publishers)
    plan: dict[str, list[str]] = {}
    for p in patterns:
        who = subscription_owner(p)
        for pub in (instances or {}).get(who, [who]) if who else everyone:
            plan.setdefault(pub, []).append(p)
    return plan


def topic_family(topic: str) -> str:
    """The family of a concrete topic, for metric labels: ``md.book.ETHUSDC`` -> ``md.book``."""
    head, _, _ = topic.rpartition(".")
    return head or topic


_LEAF_DEPTH = {"md": 3, "strategy": 3, "risk": 3, "oms": 3, "sys": 3, "state": 2}
_FIXED = {RISK_STATE, RISK_EVENT, OMS_ACCOUNT, OMS_EVENT, OMS_LATENCY}


def normalize_subscription(pattern: str) -> str:
    """Accept what an operator types: ``md.book`` and ``md.book.`` both mean the family.

    A pattern that names one concrete topic (``md.book.ETHUSDC``, ``risk.state``) is kept as is;
    ``""`` or ``"*"`` mean every topic.
    """
    if pattern in ("", "*"):
        return ALL
    if pattern.endswith(".") or pattern in _FIXED:
        return pattern
    parts = pattern.split(".")
    depth = _LEAF_DEPTH.get(parts[0])
    if depth is not None and len(parts) < depth:
        return pattern + "."
    return pattern
