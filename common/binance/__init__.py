"""Binance wire formats and rules, mirrored at the edge: payload Structs, signing, filters.

Venue JSON gets its own Structs with Binance's field names; services translate to domain
messages once, at the boundary.
"""
