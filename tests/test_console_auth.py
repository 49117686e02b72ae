"""The console's second factor against the RFCs' own test vectors, and its login rules by hand.

HOTP: RFC 4226 appendix D (secret "12345678901234567890", counters 0-9, 6 digits). TOTP: RFC 6238
appendix B (SHA-1 with the 20-byte secret, SHA-256 with the 32-byte one, 8 digits, 30 s steps).
"""

from __future__ import annotations

import pytest

from common.config import ConfigError
from services.console import auth

RFC_SECRET = b"12345678901234567890"
RFC_SECRET_256 = b"12345678901234567890123456789012"


@pytest.mark.parametrize(
    ("counter", "code"),
    list(
        enumerate(
            [
                "755224",
                "287082",
                "359152",
                "969429",
                "338314",
                "254676",
                "287922",
                "162583",
                "399871",
                "520489",
            ]
        )
    ),
)
def test_hotp_matches_rfc_4226_appendix_d(counter: int, code: str) -> None:
    assert auth.hotp(RFC_SECRET, counter) == code


@pytest.mark.parametrize(
    ("unix_s", "sha1", "sha256"),
    [
        (59, "94287082", "46119246"),
        (1111111109, "07081804", "68084774"),
        (1111111111, "14050471", "67062674"),
        (1234567890, "89005924", "91819424"),
        (2000000000, "69279037", "90698825"),
        (20000000000, "65353130", "77737706"),
    ],
)
def test_totp_matches_rfc_6238_appendix_b(unix_s: int, sha1: str, sha256: str) -> None:
    assert auth.totp(RFC_SECRET, unix_s, digits=8) == sha1
    assert auth.totp(RFC_SECRET_256, unix_s, digits=8, digest="sha256") == sha256


def test_a_base32_secret_reads_as_authenticator_apps_write_it() -> None:
    # RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI======"; apps drop the padding and use spaces
    assert auth.b32decode("mzxw 6ytb oi") == b"foobar"
    assert len(auth.b32decode(auth.new_totp_secret())) == 20


OPERATOR_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of RFC_SECRET


@pytest.fixture(scope="module")
def users() -> str:
    return ",".join(
        [
            auth.user_entry("alice", "operator", "correct horse", OPERATOR_SECRET),
            auth.user_entry("bob", "viewer", "battery staple", None),
        ]
    )


def test_users_parse_with_their_roles_and_an_operator_needs_a_second_factor(users: str) -> None:
    parsed = auth.parse_users(users)
    assert {n: u.role for n, u in parsed.items()} == {"alice": "operator", "bob": "viewer"}
    assert parsed["alice"].totp_secret == RFC_SECRET
    no_totp = auth.user_entry("carol", "operator", "pw", None)
    with pytest.raises(ConfigError, match="'carol': an operator needs a TOTP secret"):
        auth.parse_users(no_totp)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("dave:admin:{h}", "role must be viewer or operator, not 'admin'"),
        ("dave:viewer:plaintext-password", "must be a scrypt hash"),
        ("dave:viewer", "want name:role:scrypt-hash[:totp-secret] (2 fields)"),
        ("dave:operator:{h}:not base32!", "the TOTP secret is not base32"),
        ("d@ve:viewer:{h}", "the name must be letters"),
    ],
)
def test_a_bad_user_entry_is_named_and_no_secret_is_printed(entry: str, words: str) -> None:
    h = auth.hash_password("s3cret-pw")
    with pytest.raises(ConfigError) as err:
        auth.parse_users(entry.format(h=h))
    assert words in str(err.value)
    assert h not in str(err.value) and "s3cret" not in str(err.value) and "plaintext" not in str(err.value)


def test_an_operator_logs_in_with_password_and_the_current_code_once(users: str) -> None:
    login = auth.Login(auth.parse_users(users))
    now = 1111111111.0  # RFC 6238's row: 6-digit code is the low 6 digits of 14050471
    assert login.login("alice", "correct horse", "000000", now) == (None, "bad_totp")
    token, why = login.login("alice", "correct horse", "050471", now)
    assert why == "ok" and token
    session = login.session(token, now + 10)
    assert session is not None and (session.user, session.role) == ("alice", "operator")
    # the same code again (a replay) is refused, and so is the previous step's
    assert login.login("alice", "correct horse", "050471", now + 1) == (None, "bad_totp")
    # the session ends after SESSION_S
    assert login.session(token, now + auth.SESSION_S + 1) is None


def test_a_code_one_step_late_or_early_is_accepted_and_two_steps_are_not(users: str) -> None:
    secret = RFC_SECRET
    now = 1234567890.0
    for drift, ok in ((-30, True), (30, True), (-60, False), (60, False)):
        login = auth.Login(auth.parse_users(users))
        code = auth.totp(secret, now + drift)
        assert (login.login("alice", "correct horse", code, now)[1] == "ok") is ok, drift


def test_five_failures_lock_the_name_for_a_minute_whatever_the_password(users: str) -> None:
    login = auth.Login(auth.parse_users(users))
    for i in range(auth.LOCK_AFTER):
        assert login.login("bob", "wrong", "", 1000.0 + i) == (None, "bad_password")
    assert login.login("bob", "battery staple", "", 1010.0) == (None, "locked")
    token, why = login.login("bob", "battery staple", "", 1000.0 + auth.LOCK_WINDOW_S + 5)
    assert why == "ok" and login.session(token, 1070.0).role == "viewer"  # type: ignore[union-attr]


def test_an_unknown_name_and_a_bad_password_read_the_same(users: str) -> None:
    login = auth.Login(auth.parse_users(users))
    assert (
        login.login("mallory", "x", "", 0.0) == login.login("alice", "x", "", 0.0) == (None, "bad_password")
    )
