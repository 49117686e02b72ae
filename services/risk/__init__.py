"""The risk service: every limit between the strategy's targets and the gateway.

The deciding code is pure and shared with the backtester: :class:`services.risk.engine.RiskEngine`
is the one entry point. Where a change goes:

* the rules and the order they run in: :mod:`rules`; by subject, :mod:`market` (feed, data age,
  book against mark, latency, shocks), :mod:`loss` (PnL band, stop loss, daily loss, drawdown, the
  day roll), :mod:`bands` (drawdown bands, reduce-only convergence), :mod:`margin` (global notional
  and leverage room, margin ratio, liquidation distance);
* approving a target: :mod:`approval` (gate, widening, caps, churn), :mod:`exposure` (the quote
  clipping itself), :mod:`behaviour` (churn budgets), :mod:`publish` (what an approval leaves);
* bookkeeping and state: :mod:`pnl`, :mod:`state`, :mod:`modes` (holds, modes, events);
* operator commands: :mod:`commands`; the published view: :mod:`report`;
* sample inputs for tests and benchmarks: :mod:`samples`.

The asyncio shell feeds the engine from the bus and sends what it returns.
"""
