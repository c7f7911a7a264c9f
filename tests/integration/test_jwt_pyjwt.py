"""Our HS256 tokens (src/auth/jwt.c) against PyJWT, through tests/tools/jwt_tool.

Tokens we issue must verify with PyJWT and carry the same claims; PyJWT's HS256
tokens under our key must be accepted; every other algorithm, "none", an
RS256-shaped token, the HS256-with-a-public-key confusion, expired and
tampered tokens must be refused. Claim sets are random (the seed is in every
failure message).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import string
import time

import jwt
import pytest

from conftest import run_line_tool

ROLES = ("admin", "analyst", "viewer")
N_CLAIM_SETS = 200
INT64_MAX = 2**63 - 1
LEEWAY_S = 30
MAX_LEN = 4096

# Any PEM public key will do: the point is that it is not our key. (This one is
# only shaped like an RSA key; `cryptography` is not among the test tools.)
PUBLIC_KEY_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
    "-----END PUBLIC KEY-----\n"
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_token(header: dict | str, payload: dict | str, key: str | bytes | None) -> str:
    """A token built without PyJWT: JSON texts as given, HMAC-SHA256 under
    key, or an empty signature when key is None."""
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    signing_input = b64url(h.encode()) + "." + b64url(p.encode())
    if key is None:
        return signing_input + "."
    k = key.encode() if isinstance(key, str) else key
    mac = hmac.new(k, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def random_key(rng: random.Random, length: int | None = None) -> str:
    """A printable key like TW_SECRET_KEY (no spaces: it goes on argv as is)."""
    alphabet = string.ascii_letters + string.digits + string.punctuation
    n = length if length is not None else rng.randint(32, 200)
    return "".join(rng.choice(alphabet) for _ in range(n))


def random_claims(rng: random.Random, now: int) -> dict:
    """Claims that are valid at now, sub as PyJWT wants it: a string."""
    iat = now - rng.randint(0, 3600)
    sub = rng.choice([rng.randint(1, 1000), rng.randint(1, 2**40), INT64_MAX])
    return {
        "sub": str(sub),
        "role": rng.choice(ROLES),
        "iat": iat,
        "exp": now + rng.randint(60, 7 * 86400),
        "tv": rng.randint(0, 10**6),
    }


def ok_line(c: dict) -> str:
    return f"ok {c['sub']} {c['role']} {c['iat']} {c['exp']} {c['tv']}"


def run_tool(*args: str, lines: list[str]) -> list[str]:
    return run_line_tool("jwt_tool", *args, lines=lines)


def our_encode(key: str, claim_sets: list[dict]) -> list[str]:
    lines = [f"{c['sub']} {c['role']} {c['iat']} {c['exp']} {c['tv']}" for c in claim_sets]
    tokens = run_tool("encode", key, lines=lines)
    for t in tokens:
        assert not t.startswith("error"), t
    return tokens


def our_decode(key: str, now: int, tokens: list[str]) -> list[str]:
    return run_tool("decode", key, str(now), lines=tokens)


@pytest.fixture
def rng() -> tuple[random.Random, int]:
    seed = secrets.randbits(32)
    return random.Random(seed), seed


def test_our_tokens_verify_with_pyjwt(rng: tuple[random.Random, int]) -> None:
    r, seed = rng
    now = int(time.time())
    # Keys around SHA-256's 64-byte block (longer ones are hashed first,
    # RFC 2104), a non-ASCII one (its UTF-8 bytes are the key), and random.
    keys = [random_key(r, n) for n in (32, 63, 64, 65, 200)]
    keys.append("clé-secrète-ключ-" + random_key(r, 32))
    keys += [random_key(r) for _ in range(4)]
    per_key = N_CLAIM_SETS // len(keys)
    for key in keys:
        claim_sets = [random_claims(r, now) for _ in range(per_key)]
        for token, claims in zip(our_encode(key, claim_sets), claim_sets, strict=True):
            assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
            got = jwt.decode(token, key, algorithms=["HS256"])
            assert got == claims, f"seed {seed}"
            # Byte for byte what PyJWT itself makes of the same claims (its
            # header keys are sorted, its payload keeps our order).
            assert token == jwt.encode(claims, key, algorithm="HS256"), f"seed {seed}"
            # And the wrong key fails in PyJWT too.
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(token, key + "x", algorithms=["HS256"])


def test_pyjwt_tokens_are_accepted(rng: tuple[random.Random, int]) -> None:
    r, seed = rng
    now = int(time.time())
    key = random_key(r)
    claim_sets = [random_claims(r, now) for _ in range(N_CLAIM_SETS)]
    tokens = []
    for i, c in enumerate(claim_sets):
        extra: dict = {}
        headers = None
        if i % 3 == 1:
            # Claims we do not use are ignored, nbf is honoured.
            extra = {"jti": secrets.token_hex(8), "iss": "someone", "nbf": c["iat"]}
        if i % 4 == 2:
            headers = {"kid": "k1"}
        tokens.append(jwt.encode({**c, **extra}, key, algorithm="HS256", headers=headers))
    out = our_decode(key, now, tokens)
    for line, c in zip(out, claim_sets, strict=True):
        assert line == ok_line(c), f"seed {seed}"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused(alg: str) -> None:
    now = int(time.time())
    key = random_key(random.Random(), 64)
    c = random_claims(random.Random(), now)
    token = jwt.encode(c, key, algorithm=alg)
    jwt.decode(token, key, algorithms=[alg])  # a good token of its kind
    assert our_decode(key, now, [token]) == [f'rejected token algorithm "{alg}" is not HS256']


def test_none_is_refused() -> None:
    now = int(time.time())
    key = random_key(random.Random())
    c = random_claims(random.Random(), now)
    tokens = [
        jwt.encode(c, None, algorithm="none"),  # "header.payload."
        hand_token({"alg": "none"}, c, None),
        hand_token({"alg": "none", "typ": "JWT"}, c, key),  # signed, still none
        hand_token({"alg": "None"}, c, None),
        hand_token({"alg": "NONE"}, c, key),
    ]
    assert tokens[0].endswith(".")
    out = our_decode(key, now, tokens)
    for line, alg in zip(out, ["none", "none", "none", "None", "NONE"], strict=True):
        assert line == f'rejected token algorithm "{alg}" is not HS256'


def test_rs256_and_key_confusion_are_refused() -> None:
    now = int(time.time())
    key = random_key(random.Random())
    c = random_claims(random.Random(), now)
    # An RS256-shaped token: the header names RS256, the signature is 256
    # random bytes as a 2048-bit RSA signature would be.
    rs256 = hand_token({"alg": "RS256", "typ": "JWT"}, c, None) + b64url(secrets.token_bytes(256))
    # The classic confusion: HS256 "signed" with the server's public key as
    # the HMAC secret. PyJWT refuses to make it; by hand it is easy, and it
    # must fail because the public key is not our key.
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode(c, PUBLIC_KEY_PEM, algorithm="HS256")
    confused = hand_token({"alg": "HS256", "typ": "JWT"}, c, PUBLIC_KEY_PEM)
    confused_rs = hand_token({"alg": "RS256", "typ": "JWT"}, c, PUBLIC_KEY_PEM)
    out = our_decode(key, now, [rs256, confused, confused_rs])
    assert out == [
        'rejected token algorithm "RS256" is not HS256',
        "rejected token signature does not match",
        'rejected token algorithm "RS256" is not HS256',
    ]


def test_expired_and_future_tokens_are_refused() -> None:
    now = int(time.time())
    key = random_key(random.Random())
    base = {"sub": "7", "role": "viewer", "tv": 0}
    cases = [
        ({**base, "iat": now - 100, "exp": now - 1}, "rejected token expired"),
        ({**base, "iat": now - 100, "exp": now}, "rejected token expired"),
        ({**base, "iat": now - 100, "exp": now + 1}, "ok 7 viewer %d %d 0" % (now - 100, now + 1)),
        (
            {**base, "iat": now + LEEWAY_S + 1, "exp": now + 3600},
            "rejected token issued in the future",
        ),
        (
            {**base, "iat": now + LEEWAY_S, "exp": now + 3600},
            "ok 7 viewer %d %d 0" % (now + LEEWAY_S, now + 3600),
        ),
        (
            {**base, "iat": now, "exp": now + 3600, "nbf": now + LEEWAY_S + 1},
            "rejected token not yet valid (nbf)",
        ),
    ]
    tokens = [jwt.encode(c, key, algorithm="HS256") for c, _ in cases]
    assert our_decode(key, now, tokens) == [want for _, want in cases]
    # PyJWT agrees that the first two are expired.
    for token in tokens[:2]:
        with pytest.raises(jwt.ExpiredSignatureError):
            jwt.decode(token, key, algorithms=["HS256"])


def test_claims_we_do_not_issue_are_refused() -> None:
    now = int(time.time())
    key = random_key(random.Random())
    base = {"sub": "7", "role": "viewer", "iat": now, "exp": now + 60, "tv": 1}
    cases = [
        # PyJWT will encode an integer sub, but it is not what we issue.
        (jwt.encode({**base, "sub": 7}, key, algorithm="HS256"), "token sub is not a string"),
        (jwt.encode({**base, "sub": "07"}, key, algorithm="HS256"), "token sub is not a positive"),
        (jwt.encode({**base, "role": "root"}, key, algorithm="HS256"), 'role "root" is unknown'),
        (jwt.encode({**base, "tv": 1.0}, key, algorithm="HS256"), "token tv is not an integer"),
        (jwt.encode({**base, "iat": float(now)}, key, algorithm="HS256"), "iat is not an integer"),
        (jwt.encode({**base, "aud": "x"}, key, algorithm="HS256"), "aud claim"),
        (hand_token({"alg": "HS256"}, '{"sub":"7","sub":"8"}', key), "duplicate"),
        (hand_token('{"alg":"HS256","alg":"HS256"}', base, key), "duplicate"),
        (hand_token({"alg": "HS256", "typ": "JWS"}, base, key), 'type "JWS" is not JWT'),
        (hand_token({"alg": "HS256", "crit": ["exp"]}, base, key), "crit"),
        (hand_token({"alg": "hs256"}, base, key), 'algorithm "hs256" is not HS256'),
    ]
    out = our_decode(key, now, [t for t, _ in cases])
    for line, (_, want) in zip(out, cases, strict=True):
        assert line.startswith("rejected ") and want in line, (line, want)


def test_tampering_and_shapes_are_refused(rng: tuple[random.Random, int]) -> None:
    r, seed = rng
    now = int(time.time())
    key = random_key(r)
    good = jwt.encode(random_claims(r, now), key, algorithm="HS256")
    h, p, s = good.split(".")
    alphabet = string.ascii_letters + string.digits + "-_"
    mutated = []
    for _ in range(N_CLAIM_SETS):
        i = r.randrange(len(good))
        c = r.choice([ch for ch in alphabet if ch != good[i]])
        mutated.append(good[:i] + c + good[i + 1 :])
    shapes = [
        "",
        h + "." + p,
        good + ".x",
        good + "=",
        " " + good,
        good + " ",
        h + "." + p + "." + s[:-1],
        h + ".." + s,
        good.replace(".", ".\t", 1),
        h + "." + p + "." + b64url(hashlib.sha256(b"x").digest()),
    ]
    out = our_decode(key, now, mutated + shapes + [good])
    assert out[-1].startswith("ok "), f"seed {seed}"
    for token, line in zip(mutated + shapes, out, strict=False):
        assert line.startswith("rejected "), f"seed {seed}: {token!r} -> {line}"


def test_what_we_accept_pyjwt_accepts(rng: tuple[random.Random, int]) -> None:
    """Differential: over random (mostly broken) variations of PyJWT tokens,
    everything ours accepts PyJWT accepts, with the same claims."""
    r, seed = rng
    now = int(time.time())
    key = random_key(r)
    tokens = []
    for _ in range(N_CLAIM_SETS):
        c = random_claims(r, now)
        t = jwt.encode(c, key, algorithm="HS256")
        k = r.randrange(4)
        if k == 1:
            i = r.randrange(len(t))
            t = t[:i] + r.choice(string.ascii_letters + "-_.=") + t[i + 1 :]
        elif k == 2:
            t = t[: r.randrange(len(t))]
        elif k == 3:
            t = hand_token({"alg": "HS256"}, {**c, "exp": now - r.randint(0, 5)}, key)
        tokens.append(t)
    for t, line in zip(tokens, our_decode(key, now, tokens), strict=True):
        if not line.startswith("ok "):
            continue
        got = jwt.decode(t, key, algorithms=["HS256"])
        assert line == ok_line(got), f"seed {seed}: {t}"


def test_long_tokens_are_refused_before_parsing() -> None:
    now = int(time.time())
    key = random_key(random.Random())
    c = random_claims(random.Random(), now)
    big = jwt.encode({**c, "pad": "x" * 4000}, key, algorithm="HS256")
    assert len(big) > MAX_LEN
    jwt.decode(big, key, algorithms=["HS256"])  # PyJWT has no limit
    assert our_decode(key, now, [big, "A" * 5000]) == [
        "rejected token is longer than 4096 bytes",
        "rejected token is longer than 4096 bytes",
    ]
