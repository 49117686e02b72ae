"""Client order ids: the regex, uniqueness, round trip, compression of long and non-ASCII symbols."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.client_ids import ID_RE, MAX_LAYER, ClientIds, new_session, parse, symbol_code

SESSION_NS = 1_763_000_000_000_000_000


def test_an_id_names_prefix_session_symbol_side_layer_and_sequence() -> None:
    ids = ClientIds("mm", new_session(SESSION_NS))
    cid = ids.next("ETHUSDC", "BUY", 0)
    assert cid == f"mm-{ids.session}-ETHUSDC-b0-1"
    assert ids.next("ETHUSDC", "SELL", 37) == f"mm-{ids.session}-ETHUSDC-s11-2"
    p = ids.parse(cid)
    assert p is not None
    assert (p.session, p.symbol_code, p.side, p.layer, p.seq) == (ids.session, "ETHUSDC", "BUY", 0, 1)


def test_a_restart_is_a_new_session_even_within_the_same_second() -> None:
    assert new_session(SESSION_NS) != new_session(SESSION_NS + 20_000_000)
    assert len(new_session(SESSION_NS)) == 7


def test_ids_of_other_prefixes_and_venue_generated_ids_are_not_ours() -> None:
    ids = ClientIds("mm", "abc")
    assert ids.parse("autoclose-1234") is None
    assert ids.parse("adl_autoclose") is None
    assert ids.parse("web_AbCdEf123") is None
    assert ids.parse("mmx-abc-ETHUSDC-b0-1") is None
    assert ids.parse("mm-abc-ETHUSDC-q0-1") is None
    assert ids.is_ours("mm-zz-ETHUSDC-b_-1")
    assert not ids.is_this_session("mm-zz-ETHUSDC-b_-1")
    assert ids.is_this_session(ids.next("BTCUSDC", "SELL", 3))


def test_layers_without_a_number_are_written_underscore() -> None:
    ids = ClientIds("mm", "abc")
    for layer in (-1, MAX_LAYER + 1):
        p = ids.parse(ids.next("ETHUSDC", "SELL", layer))
        assert p is not None and p.layer == -1


def test_long_and_non_ascii_symbols_are_compressed_deterministically() -> None:
    code = symbol_code("1000000MOGUSDTLONGER", 14)
    assert len(code) == 14 and "_" in code
    assert code == symbol_code("1000000MOGUSDTLONGER", 14)
    assert code != symbol_code("1000000MOGUSDTLONGEST", 14)
    chinese = symbol_code("币安人生USDT", 14)
    assert chinese.startswith("USDT_") and ID_RE.match(chinese)


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4),
    session_ns=st.integers(SESSION_NS, SESSION_NS + 10**19),
    orders=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=24),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(-1, MAX_LAYER),
        ),
        min_size=1,
        max_size=30,
    ),
    start=st.integers(1, 36**6 - 40),
)
def test_ids_always_match_the_regex_are_unique_and_round_trip(
    prefix: str, session_ns: int, orders: list[tuple[str, str, int]], start: int
) -> None:
    ids = ClientIds(prefix, new_session(session_ns), start_seq=start)
    made = []
    for i, (symbol, side, layer) in enumerate(orders):
        cid = ids.next(symbol, "BUY" if side == "BUY" else "SELL", layer)
        assert ID_RE.match(cid), cid
        p = parse(cid, prefix)
        assert p is not None
        assert p.session == ids.session
        assert p.symbol_code == ids.code(symbol)
        assert p.side == side and p.layer == layer and p.seq == start + i
        made.append(cid)
    assert len(set(made)) == len(made)
