"""The gateway (OMS): the truth about our orders, fills and positions, and the only door to the venue.

The deciding parts are pure and synchronous, with time as an input, so the backtester runs the
same code as the live service:

* :mod:`client_ids` — deterministic, per-session client order ids and their parser;
* :mod:`orders` — one order's record and state machine (requests, venue answers, user stream);
* :mod:`oms` — the book of every order, fills exactly once, positions, venue reconciliation;
* :mod:`reconcile` — the fewest actions from the resting orders to the approved target;
* :mod:`budget` — rate budgets that admit actions in priority order;
* :mod:`caps` — hard caps checked right before the wire.

The asyncio shell (venue clients, user stream, bus) feeds them and sends what they decide.
"""
