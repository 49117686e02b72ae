"""``mmctl console-user NAME --role viewer|operator``: a console login for ``MM_CONSOLE_USERS``.

Asks for the password twice (or reads one line from stdin with ``--password-stdin``), hashes it
with scrypt and, for an operator, draws a TOTP secret and prints the ``otpauth://`` URI to add to
an authenticator app. Prints (or writes with ``--out``, mode 0600) the entry: join several users'
entries with ``,`` in ``MM_CONSOLE_USERS``. Runs offline; the password is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from services.console import auth
from services.mmctl.commands.keys import print_or_write

MIN_PASSWORD = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console-user", help="make a console login (MM_CONSOLE_USERS entry)")
    p.add_argument("name", help="login name: letters, digits, '-', '_' or '.'")
    p.add_argument("--role", choices=auth.ROLES, default="viewer", help="viewer (default) or operator")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--out", type=Path, help="write the entry to this file (mode 0600) instead of printing")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        print("mmctl console-user: the passwords differ", file=sys.stderr)
        return None
    return first


def run_offline(args: argparse.Namespace) -> int:
    password = _password(args.password_stdin)
    if password is None:
        return 1
    if len(password) < MIN_PASSWORD:
        print(f"mmctl console-user: a password needs {MIN_PASSWORD} characters or more", file=sys.stderr)
        return 1
    secret = auth.new_totp_secret() if args.role == "operator" else None
    entry = auth.user_entry(args.name, args.role, password, secret)
    try:
        auth.parse_users(entry)  # the console will read it back: refuse here what it would refuse
    except Exception as exc:  # noqa: BLE001 - ConfigError, said in one line
        print(f"mmctl console-user: {exc}", file=sys.stderr)
        return 1
    if not print_or_write("console-user", f"MM_CONSOLE_USERS='{entry}'\n", args.out, args.force):
        return 1
    if secret is not None:
        print(
            f"# second factor for {args.name}: add to an authenticator app (the URI holds the secret)\n"
            f"# {auth.otpauth_uri(args.name, secret)}",
            file=sys.stderr,
        )
    return 0
