"""The simulated Binance USDⓈ-M venue: a protocol-faithful exchange on loopback, with a matching
engine, a market model and fault controls."""
