"""The bus protocol version, carried apart from the package version.

Every envelope on the bus carries ``PROTOCOL_MAJOR``. Minor versions only add fields with
defaults (see PROTOCOL.md), so any decoder of the same major reads any minor; a message of
another major is counted and dropped, never guessed at.
"""

PROTOCOL_VERSION = "1.0"
PROTOCOL_MAJOR = int(PROTOCOL_VERSION.split(".", maxsplit=1)[0])
