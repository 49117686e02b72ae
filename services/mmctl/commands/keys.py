"""``mmctl keys``: fresh CURVE key pairs for the bus over tcp, and a fresh command secret.

Prints (or writes with ``--out``, mode 0600, never over an existing file without ``--force``)
one ``KEY='VALUE'`` line per variable: ``MM_BUS_CURVE_<IDENTITY>_PUBLIC`` and ``_SECRET`` for
every service and for mmctl, and ``MM_BUS_SECRET``. Values are single-quoted because Z85 text
holds ``$ & ( ) < >``: so quoted, the file reads the same sourced by a shell (``set -a; . FILE``)
and as a systemd ``EnvironmentFile``. Runs offline: it needs no config and no bus.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from common.config import CURVE_IDENTITIES, gateway_name
from common.curve import generate

_HEADER = (
    "# Bus keys made by `mmctl keys`. Every host needs every *_PUBLIC line and MM_BUS_SECRET;\n"
    "# give a host only the *_SECRET lines of the services it runs (mmctl's to operators).\n"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="make CURVE key pairs for every service and mmctl (bus over tcp)")
    p.add_argument("--out", type=Path, help="write to this file (mode 0600) instead of printing")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME",
        help="an extra account's gateway (gateway-NAME) needs keys too; repeat for each",
    )


def render(accounts: list[str] | None = None) -> str:
    """The whole key file: a header, then one ``KEY='VALUE'`` line per variable."""
    pairs = [*generate(identities(accounts)), ("MM_BUS_SECRET", secrets.token_urlsafe(32))]
    return _HEADER + "".join(f"{k}='{v}'\n" for k, v in pairs)


def identities(accounts: list[str] | None) -> list[str]:
    """Every bus identity, with the gateway instance of each extra account named."""
    return [*CURVE_IDENTITIES, *(gateway_name(a) for a in accounts or [])]


def write_private(path: Path, text: str, force: bool) -> None:
    """Write ``text`` to ``path`` readable by its owner only; FileExistsError unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fd, 0o600)  # an existing file overwritten with --force keeps no looser mode
        fh.write(text)


def print_or_write(prog: str, text: str, out: Path | None, force: bool) -> bool:
    """``text`` to stdout, or to ``out`` readable by its owner only; False (said on stderr) when
    ``out`` exists without ``force`` or cannot be written."""
    if out is None:
        sys.stdout.write(text)
        return True
    try:
        write_private(out, text, force)
    except FileExistsError:
        print(f"mmctl {prog}: {out} exists; not overwritten (use --force)", file=sys.stderr)
        return False
    except OSError as exc:
        print(f"mmctl {prog}: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return False
    return True


def run_offline(args: argparse.Namespace) -> int:
    """Runs before any config is loaded: the keys are what a tcp setup that will not load lacks."""
    if not print_or_write("keys", render(args.account), args.out, args.force):
        return 1
    if args.out is not None:
        print(f"wrote bus keys for {', '.join(identities(args.account))} to {args.out} (mode 0600)")
    return 0
