"""Encoding and decoding of bus payloads: one Encoder/Decoder per use, reused.

A payload is a msgpack :class:`Envelope` whose ``msg`` is the msgpack of one message of the
:data:`AnyMessage` union. Decoding is two steps so a subscriber can check the header (protocol
major, seq) before it pays for the body, and the recorder can store the body without decoding it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from common.messages import AnyMessage, Envelope, Message, Reply, Request
from common.protocol import PROTOCOL_MAJOR


class DecodeError(ValueError):
    """A payload that is not a valid message of this protocol; ``kind`` names what it claimed to be."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"cannot decode {kind}: {detail}")
        self.kind = kind
        self.detail = detail


class _TypeProbe(msgspec.Struct):
    type: str = "?"


_probe_decoder = msgspec.msgpack.Decoder(_TypeProbe)


def message_kind(body: bytes) -> str:
    """Best-effort name of the message type in ``body``, for error accounting."""
    try:
        return _probe_decoder.decode(body).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "?"


class TypedEnvelope(msgspec.Struct, frozen=True, array_like=True):
    """The same wire form as :class:`Envelope`, with the body decoded in the same pass (hot path)."""

    pv: int
    source: str
    epoch: int
    seq: int
    msg: AnyMessage


class MessageCodec:
    """Encodes messages into envelopes and decodes them back, with the protocol check."""

    def __init__(self) -> None:
        self._enc = msgspec.msgpack.Encoder()
        self._env_dec = msgspec.msgpack.Decoder(Envelope)
        self._typed_dec = msgspec.msgpack.Decoder(TypedEnvelope)
        self._msg_dec = msgspec.msgpack.Decoder(AnyMessage)

    def encode_body(self, msg: Message) -> bytes:
        return self._enc.encode(msg)

    def encode(self, msg: Message, source: str, epoch: int, seq: int) -> bytes:
        """One pass: the envelope and its message encode together (identical bytes to a Raw body)."""
        return self._enc.encode(TypedEnvelope(PROTOCOL_MAJOR, source, epoch, seq, msg))  # type: ignore[arg-type]

    def decode(self, payload: bytes) -> TypedEnvelope:
        """Envelope and message in one pass; on failure, a second look says what was wrong."""
        try:
            env = self._typed_dec.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raw = self.decode_envelope(payload)  # raises for a bad envelope or protocol
            self.decode_body(raw.msg)  # raises naming the message kind
            raise DecodeError("envelope", "undecodable payload") from None
        if env.pv != PROTOCOL_MAJOR:
            raise DecodeError("envelope", f"protocol major {env.pv}, this build speaks {PROTOCOL_MAJOR}")
        return env

    def decode_envelope(self, payload: bytes) -> Envelope:
        try:
            env = self._env_dec.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError("envelope", str(exc)) from exc
        if env.pv != PROTOCOL_MAJOR:
            raise DecodeError("envelope", f"protocol major {env.pv}, this build speaks {PROTOCOL_MAJOR}")
        return env

    def decode_body(self, body: bytes | msgspec.Raw) -> AnyMessage:
        try:
            return self._msg_dec.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(message_kind(bytes(body)), str(exc)) from exc


class CommandCodec:
    """Encodes and decodes :class:`Request` and :class:`Reply` for the command channel."""

    def __init__(self) -> None:
        self._enc = msgspec.msgpack.Encoder()
        self._req_dec = msgspec.msgpack.Decoder(Request)
        self._rep_dec = msgspec.msgpack.Decoder(Reply)

    def encode(self, obj: Request | Reply) -> bytes:
        return self._enc.encode(obj)

    def decode_request(self, payload: bytes) -> Request:
        try:
            return self._req_dec.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError("request", str(exc)) from exc

    def decode_reply(self, payload: bytes) -> Reply:
        try:
            return self._rep_dec.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError("reply", str(exc)) from exc


def to_builtins(obj: Any) -> Any:
    """Plain data (dicts, lists, strings) for JSON output and command results."""
    return msgspec.to_builtins(obj)
