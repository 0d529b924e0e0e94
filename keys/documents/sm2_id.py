"""SM2 verification with a chosen user ID, in plain Python (GB/T 32918.2 §7).

Tongsuo, through keys.algorithms, verifies with the standard ID 1234567812345678 only. OpenSSL 3 signs
certificates with an empty ID unless told otherwise (`-sigopt distid:...`), so a seal root an operator
made with `openssl req` needs the empty ID to verify. Used only after the standard ID has failed; about a
few milliseconds per check.
"""

from __future__ import annotations

from . import gm

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

Jacobian = tuple[int, int, int]
_INFINITY: Jacobian = (1, 1, 0)


def _double(pt: Jacobian) -> Jacobian:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INFINITY
    yy = y * y % P
    s = 4 * x * yy % P
    zz = z * z % P
    m = 3 * (x - zz) * (x + zz) % P            # a = -3
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * yy * yy) % P, 2 * y * z % P


def _add(p1: Jacobian, p2: Jacobian) -> Jacobian:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else _INFINITY
    h, r = (u2 - u1) % P, (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - s1 * hhh) % P, h * z1 * z2 % P


def _combined(k1: int, p1: Jacobian, k2: int, p2: Jacobian) -> Jacobian:
    """k1*p1 + k2*p2 in one pass (Shamir's trick)."""
    both = _add(p1, p2)
    out = _INFINITY
    for bit in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        out = _double(out)
        pick = ((k1 >> bit) & 1, (k2 >> bit) & 1)
        if pick == (1, 1):
            out = _add(out, both)
        elif pick == (1, 0):
            out = _add(out, p1)
        elif pick == (0, 1):
            out = _add(out, p2)
    return out


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - A * x - B) % P == 0


def z_value(user_id: bytes, point: bytes) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A)."""
    fields = [A, B, GX, GY]
    return gm.sm3((len(user_id) * 8).to_bytes(2, "big") + user_id
                  + b"".join(f.to_bytes(32, "big") for f in fields) + point[1:])


def verify(point: bytes, raw: bytes, data: bytes, user_id: bytes) -> bool:
    """`raw` is r||s; `point` the uncompressed public key."""
    if len(point) != 65 or point[0] != 4 or len(raw) != 64:
        return False
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if not (_on_curve(x, y) and 0 < r < N and 0 < s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    e = int.from_bytes(gm.sm3(z_value(user_id, point) + data), "big")
    x1, _, z1 = _combined(s, (GX, GY, 1), t, (x, y, 1))
    if z1 == 0:
        return False
    return (e + x1 * pow(z1 * z1, -1, P) % P) % N == r
