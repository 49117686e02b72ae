"""Signing against Binance's published test vectors (reference/binance-api.md A.1 and B.1)."""

from __future__ import annotations

import pytest

from common.binance.signing import encode_params, hmac_hex, rest_payload, verify_hmac, ws_api_payload

FUT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_futures_example_1_and_2_whole_payload_in_query_or_body() -> None:
    payload = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    expected = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    assert hmac_hex(FUT_SECRET, rest_payload(payload, "")) == expected
    assert hmac_hex(FUT_SECRET, rest_payload("", payload)) == expected


def test_futures_example_3_query_and_body_are_joined_without_separator() -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=9000&recvWindow=5000&timestamp= 1591702613943"  # the doc's stray space
    assert (
        hmac_hex(FUT_SECRET, rest_payload(query, body))
        == "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2"
    )


def test_parameter_order_is_not_normalised() -> None:
    reordered = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=9000"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert (
        hmac_hex(FUT_SECRET, reordered) == "ec11dcc17e67e47f0d3c3f513dfe9062307e37619c5c82ebaa8fe0bdf3d59519"
    )


def test_batch_orders_are_signed_as_the_url_encoded_compact_json_sent() -> None:
    import json

    orders = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTX",
            "quantity": "0.001",
            "price": "10000",
        }
    ]
    q = encode_params(
        [
            ("batchOrders", json.dumps(orders, separators=(",", ":"))),
            ("recvWindow", 5000),
            ("timestamp", 1591702613943),
        ]
    )
    assert q.startswith("batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22")
    assert hmac_hex(FUT_SECRET, q) == "3799e4bf6ebdcd048c3e777f4ea9af0107c6c2e867c7ffaea485f6ec85e8373b"


@pytest.mark.parametrize(
    ("payload", "sig"),
    [
        (
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
            "&timestamp=1499827319559",
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        ),
        (
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
            "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
        ),
    ],
)
def test_spot_rest_vectors(payload: str, sig: str) -> None:
    assert hmac_hex(SPOT_SECRET, payload) == sig
    assert verify_hmac(SPOT_SECRET, payload, sig.upper())


def test_non_ascii_symbol_is_percent_encoded_before_signing_on_rest() -> None:
    q = encode_params(
        [
            ("symbol", "１２３４５６"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
            ("recvWindow", 5000),
            ("timestamp", 1499827319559),
        ]
    )
    assert hmac_hex(SPOT_SECRET, q) == "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"


@pytest.mark.parametrize(
    ("params", "sig"),
    [
        (
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01000000",
                "price": "52000.00",
                "recvWindow": 100,
                "timestamp": 1645423376532,
                "apiKey": SPOT_KEY,
            },
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
        ),
        (
            {
                "symbol": "１２３４５６",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1.00000000",
                "price": "0.10000000",
                "recvWindow": 5000,
                "timestamp": 1645423376532,
                "apiKey": SPOT_KEY,
                "signature": "ignored",
            },
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd",
        ),
    ],
)
def test_ws_api_vectors_sort_params_and_include_the_api_key(params: dict[str, object], sig: str) -> None:
    assert hmac_hex(SPOT_SECRET, ws_api_payload(params)) == sig


def test_ed25519_sign_then_verify_round_trip() -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from common.binance.signing import ed25519_sign

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    sig = ed25519_sign(pem, "symbol=BTCUSDT&timestamp=1")
    assert len(base64.b64decode(sig)) == 64
    key.public_key().verify(base64.b64decode(sig), b"symbol=BTCUSDT&timestamp=1")
