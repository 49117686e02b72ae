"""The strategy: quoting models that turn market state and inventory into a target quote set.

The deciding code is pure and shared with the backtester: :mod:`services.strategy.engine` is the
one entry point; the models live in :mod:`services.strategy.models`; reservation prices, the layer
ladder, the inventory overlays (pinning, grinding, funding bias) and anti-flicker each have their
own module. The asyncio service shell feeds the engine from the bus and publishes its decisions.
"""
