"""Shared ground for every service: messages, the ZeroMQ bus, config, logging, metrics, runtime."""

__version__ = "0.1.0"
