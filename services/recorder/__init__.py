"""The recorder: the durable record of everything on the bus (persistence service)."""
