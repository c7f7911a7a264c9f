"""Our bcrypt (src/auth/bcrypt.c) against Python's bcrypt, through tests/tools/bcrypt_tool.

Hashes we make must pass bcrypt.checkpw; hashes made by bcrypt.hashpw must verify
"ok" with ours, and tampered ones (another password, another salt or hash
character) "mismatch". Passwords are random bytes 1..255 of 0 to 72 bytes:
bcrypt 5 raises ValueError beyond 72 bytes, and the tool's protocol has no NUL.
The seed is in every failure message.
"""

from __future__ import annotations

import random
import re
import secrets

import bcrypt
import pytest

from conftest import run_line_tool

N_PASSWORDS = 1000
MAX_PASSWORD = 72
ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HASH_RE = re.compile(r"^\$2b\$(\d\d)\$[./A-Za-z0-9]{53}$")


def run_tool(*args: str, lines: list[str]) -> list[str]:
    return run_line_tool("bcrypt_tool", *args, lines=lines)


def random_passwords(rng: random.Random, n: int) -> list[bytes]:
    pws = [
        bytes(rng.randint(1, 255) for _ in range(rng.randint(0, MAX_PASSWORD))) for _ in range(n)
    ]
    # The edges every run: empty, one byte, 71, 72, high bytes only.
    pws[:5] = [b"", b"\x01", b"a" * 71, bytes(range(1, 73)), b"\xff" * MAX_PASSWORD]
    return pws


def other_password(pw: bytes) -> bytes:
    """A password that must not match pw's hash (appending is not enough at 72)."""
    if not pw:
        return b"x"
    return bytes([pw[0] % 255 + 1]) + pw[1:]


def tamper(hash_: str, pos: int) -> str:
    """hash_ with the character at pos replaced by another of the alphabet.

    At the last salt (28) or hash (59) position only canonical characters are
    used, so that the result is a well-formed hash of other bytes.
    """
    choices = ALPHABET[::16] if pos == 28 else ALPHABET[::4] if pos == 59 else ALPHABET
    choices = choices.replace(hash_[pos], "")
    return hash_[:pos] + choices[pos % len(choices)] + hash_[pos + 1 :]


@pytest.fixture
def seed() -> int:
    return secrets.randbits(64)


def test_our_hashes_pass_checkpw(seed: int) -> None:
    rng = random.Random(seed)
    pws = random_passwords(rng, N_PASSWORDS)
    hashes = run_tool("hash", "4", lines=[pw.hex() for pw in pws])
    for pw, h in zip(pws, hashes, strict=True):
        assert HASH_RE.match(h) and h[4:6] == "04", f"{h!r} (seed {seed})"
        assert bcrypt.checkpw(pw, h.encode()), f"{pw.hex()} {h} (seed {seed})"
        assert not bcrypt.checkpw(other_password(pw), h.encode()), f"{pw.hex()} {h} (seed {seed})"
    # A fresh salt each time.
    assert len({h[7:29] for h in hashes}) == len(hashes)


def test_python_hashes_verify_with_ours(seed: int) -> None:
    rng = random.Random(seed)
    pws = random_passwords(rng, N_PASSWORDS)
    hashes = [bcrypt.hashpw(pw, bcrypt.gensalt(4)).decode() for pw in pws]
    lines, want = [], []
    for i, (pw, h) in enumerate(zip(pws, hashes, strict=True)):
        lines.append(f"{pw.hex()} {h}")
        want.append("ok")
        lines.append(f"{other_password(pw).hex()} {h}")
        want.append("mismatch")
        lines.append(f"{pw.hex()} {tamper(h, 7 + i % 22)}")  # salt
        want.append("mismatch")
        lines.append(f"{pw.hex()} {tamper(h, 29 + i % 31)}")  # hash
        want.append("mismatch")
    got = run_tool("verify", lines=lines)
    for line, w, g in zip(lines, want, got, strict=True):
        assert g == w, f"{line}: {g}, want {w} (seed {seed})"


def test_malformed_hashes_are_invalid() -> None:
    h = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    bad = [
        "",
        h[:-1],
        h + "x",
        h.replace("$2b$", "$2x$"),
        h.replace("$2b$", "$3$"),
        h.replace("$04$", "$03$"),
        h.replace("$04$", "$32$"),
        h[:40] + "!" + h[41:],
        "notahash",
    ]
    got = run_tool("verify", lines=[f"{b'secret'.hex()} {b}" for b in bad])
    assert got == ["invalid"] * len(bad)
    # And lines the tool itself cannot read.
    assert run_tool("verify", lines=["7 " + h, "00 " + h, "zz " + h, "nospace"]) == ["invalid"] * 4


@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
def test_cost_12(prefix: bytes) -> None:
    pws = [secrets.token_bytes(20).replace(b"\0", b"\1"), "pässwörd".encode()]
    ours = run_tool("hash", "12", lines=[pw.hex() for pw in pws])
    for pw, h in zip(pws, ours, strict=True):
        assert h.startswith("$2b$12$")
        assert bcrypt.checkpw(pw, h.encode())
    theirs = [bcrypt.hashpw(pw, bcrypt.gensalt(12, prefix=prefix)).decode() for pw in pws]
    lines = [f"{pw.hex()} {h}" for pw, h in zip(pws, theirs, strict=True)]
    assert run_tool("verify", lines=lines) == ["ok", "ok"]


def test_2a_safety_measure_differs_from_python() -> None:
    """A known divergence, pinned so that a change on either side is noticed.

    For "$2a$", we follow libxcrypt and crypt_blowfish, which flip one key bit
    for the rare passwords (runs of 0xff) that the pre-2011 sign-extension bug
    could make collide; Python's bcrypt treats "$2a$" exactly as "$2b$". The
    vector is from Openwall's crypt_blowfish test suite.
    """
    pw = b"\xff\xff\xa3"
    xcrypt_2a = "$2a$05$/OK.fbVrR/bpIqNJ5ianF.nqd1wy.pTMdcvrRWxyiGL2eMz.2a85."
    plain_2a = "$2a$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"
    assert run_tool("verify", lines=[f"{pw.hex()} {xcrypt_2a}", f"{pw.hex()} {plain_2a}"]) == [
        "ok",
        "mismatch",
    ]
    assert not bcrypt.checkpw(pw, xcrypt_2a.encode())
    assert bcrypt.checkpw(pw, plain_2a.encode())
