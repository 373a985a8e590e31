#!/usr/bin/env python3
"""Independent verifier for yiwang evidence-log receipts (format "yiwang-receipt/v1").

Written from the standards alone, standard library only:
  * RFC 9162 section 2.1 - Merkle leaf/node hashing and the inclusion-proof
    verification algorithm of section 2.1.3.2;
  * RFC 8032 - Ed25519 signature verification (pure Python, after the reference
    code of sections 5.1 and 6);
  * C2SP signed-note (verifier keys, signature lines) and C2SP tlog-checkpoint.

Usage:  verify_receipt.py RECEIPT.json (--key KEY | --key-file PATH)
        verify_receipt.py --self-test
"""
import argparse, base64, hashlib, json, re, sys

# ---- RFC 8032 Ed25519 (verification only) --------------------------------------
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)

def _add(a, b):  # extended homogeneous coordinates (X, Y, Z, T)
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % P, (a[1] + a[0]) * (b[1] + b[0]) % P
    C, Dd = 2 * a[3] * b[3] * D % P, 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)

def _mul(s, pt):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1: q = _add(q, pt)
        pt, s = _add(pt, pt), s >> 1
    return q

def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0

def _recover_x(y, sign):
    if y >= P: return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0: return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P: x = x * SQRT_M1 % P
    if (x * x - x2) % P: return None
    return P - x if (x & 1) != sign else x

def _decompress(s):
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)

_GY = 4 * pow(5, P - 2, P) % P
BASE = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % P)

def ed25519_verify(public, msg, sig):
    """RFC 8032 5.1.7: check [S]B == R + [k]A with k = SHA-512(R || A || M) mod L."""
    if len(public) != 32 or len(sig) != 64:
        return False
    A, R, s = _decompress(public), _decompress(sig[:32]), int.from_bytes(sig[32:], "little")
    if A is None or R is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(R, _mul(k, A)))

def ed25519_public_from_secret(secret):  # RFC 8032 5.1.5, used by the self-test only
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    pt = _mul(a, BASE)
    zi = pow(pt[2], P - 2, P)
    x, y = pt[0] * zi % P, pt[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")

# ---- RFC 9162 Merkle tree --------------------------------------------------------
def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()

def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()

def verify_inclusion(index, size, lh, path, root):
    """RFC 9162 2.1.3.2, step by step."""
    if index >= size: return False
    fn, sn, r = index, size - 1, lh
    for p in path:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # only runs when LSB(fn) was not set
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root

# ---- C2SP signed note / checkpoint ---------------------------------------------------
class Fail(Exception): pass

def need(cond, reason):
    if not cond: raise Fail(reason)

def b64(s, what):
    try:
        return base64.b64decode(s, validate=True)
    except Exception:
        raise Fail(f"{what}: invalid base64")

def parse_key(vkey):
    parts = vkey.split("+", 2)  # the base64 key itself may contain '+'
    need(len(parts) == 3 and parts[0] and not any(c.isspace() for c in parts[0]),
         "verifier key: expected <name>+<hash>+<key>")
    name, khash, kb = parts
    need(re.fullmatch(r"[0-9a-f]{8}", khash) is not None, "verifier key: bad key hash")
    raw = b64(kb, "verifier key")
    need(len(raw) == 33 and raw[0] == 0x01, "verifier key: not an Ed25519 (0x01) key")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    need(want == bytes.fromhex(khash), "verifier key: key hash does not match name/key")
    return name, want, raw[1:]

def open_note(text, name, khash, pub):
    need(text.endswith("\n"), "note: does not end in newline")
    split = text.rfind("\n\n")
    need(split >= 0, "note: no blank line before signatures")
    body, sigs = text[:split + 1], text[split + 2:]
    need(body and sigs, "note: empty body or no signatures")
    found = False
    for line in sigs[:-1].split("\n"):
        need(line.startswith("\u2014 "), "note: malformed signature line")
        fields = line[2:].split(" ")
        need(len(fields) == 2 and fields[0], "note: malformed signature line")
        blob = b64(fields[1], "note signature")
        need(len(blob) >= 5, "note: signature too short")
        if fields[0] != name or blob[:4] != khash:
            continue  # signature by some other key
        need(len(blob) == 68, "note: Ed25519 signature has wrong length")
        need(ed25519_verify(pub, body.encode("utf-8"), blob[4:]), "note: bad Ed25519 signature")
        found = True
    need(found, "note: no signature from the verifier key")
    return body

def parse_checkpoint(body):
    lines = body[:-1].split("\n")
    need(len(lines) >= 3, "checkpoint: fewer than 3 lines")
    need(len(lines) == 3, "checkpoint: unexpected extension lines")
    origin, size, root = lines
    need(origin != "", "checkpoint: empty origin")
    need(re.fullmatch(r"0|[1-9][0-9]*", size) is not None, "checkpoint: bad tree size")
    rh = b64(root, "checkpoint root")
    need(len(rh) == 32, "checkpoint: root hash is not 32 bytes")
    return origin, int(size), rh

# ---- yiwang LeafV1 -------------------------------------------------------------------
def decode_leaf(data):
    need(len(data) >= 1 and data[0] == 0x01, "leaf: unknown version")
    pos, out = 1, {}
    for field in ("kind", "subject", "actor"):
        need(len(data) >= pos + 4, f"leaf: truncated {field} length")
        n = int.from_bytes(data[pos:pos + 4], "big")
        need(len(data) >= pos + 4 + n, f"leaf: truncated {field}")
        try:
            out[field] = data[pos + 4:pos + 4 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise Fail(f"leaf: {field} is not UTF-8")
        pos += 4 + n
    need(len(data) == pos + 8 + 32, "leaf: bad length for at_unix_ms/payload_hash")
    out["at_unix_ms"] = int.from_bytes(data[pos:pos + 8], "big", signed=True)
    out["payload_hash"] = data[pos + 8:].hex()
    return out

def hex32(v, what):
    need(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
         f"{what}: expected 64 lowercase hex chars")
    return bytes.fromhex(v)

def verify_receipt(rc, vkey):
    need(isinstance(rc, dict) and rc.get("format") == "yiwang-receipt/v1", "format: not yiwang-receipt/v1")
    idx, size = rc.get("leaf_index"), rc.get("tree_size")
    need(type(idx) is int and type(size) is int and 0 <= idx < size, "leaf_index/tree_size invalid")
    need(isinstance(rc.get("leaf"), str), "leaf: missing")
    leaf = b64(rc["leaf"], "leaf")
    lh, root = hex32(rc.get("leaf_hash"), "leaf_hash"), hex32(rc.get("root_hash"), "root_hash")
    need(leaf_hash(leaf) == lh, "leaf_hash != SHA-256(0x00 || leaf)")
    name, khash, pub = parse_key(vkey)
    need(isinstance(rc.get("checkpoint"), str), "checkpoint: missing")
    origin, cp_size, cp_root = parse_checkpoint(open_note(rc["checkpoint"], name, khash, pub))
    need(cp_size == size, "checkpoint tree size != tree_size")
    need(cp_root == root, "checkpoint root != root_hash")
    proof = rc.get("inclusion_proof")
    need(isinstance(proof, list), "inclusion_proof: not a list")
    path = [hex32(p, "inclusion_proof") for p in proof]
    need(verify_inclusion(idx, size, lh, path, root), "inclusion proof does not verify")
    return {"ok": True, "leaf_index": idx, "tree_size": size, **decode_leaf(leaf), "origin": origin}

# ---- self-test -----------------------------------------------------------------------
def _mth(leaves):  # RFC 9162 2.1.1 MTH, recursive
    if len(leaves) == 1: return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))

def _path(m, leaves):  # RFC 9162 2.1.3.1 PATH(m, D[n])
    if len(leaves) == 1: return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k: return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]

def self_test():
    h = bytes.fromhex
    assert hashlib.sha256(b"").hexdigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    data = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243",
                           "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
    root8 = h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    assert _mth(data) == root8  # RFC 6962 reference tree of 8 leaves
    ct_path0 = [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    assert _path(0, data) == ct_path0 and verify_inclusion(0, 8, leaf_hash(data[0]), ct_path0, root8)
    for n in range(1, 9):
        r = _mth(data[:n])
        for m in range(n):
            p, lh = _path(m, data[:n]), leaf_hash(data[m])
            assert verify_inclusion(m, n, lh, p, r), (m, n)
            assert not verify_inclusion(m, n, lh, p + [r], r)
            if p:
                assert not verify_inclusion(m, n, lh, p[:-1], r)
            assert not verify_inclusion(m, n, leaf_hash(b"x"), p, r)
    t1_pub = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    t1_sig = h("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    t2_pub = h("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
    t2_sig = h("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    assert ed25519_public_from_secret(h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")) == t1_pub
    assert ed25519_verify(t1_pub, b"", t1_sig)
    assert ed25519_verify(t2_pub, b"\x72", t2_sig)
    for pub, msg, sig in ((t1_pub, b"", t1_sig), (t2_pub, b"\x72", t2_sig)):
        for bit in (0, 300, 511):  # a flipped signature bit must fail
            bad = bytearray(sig); bad[bit // 8] ^= 1 << (bit % 8)
            assert not ed25519_verify(pub, msg, bytes(bad))
    assert not ed25519_verify(t1_pub, b"\x72", t1_sig) and not ed25519_verify(t2_pub, b"", t2_sig)
    print("self-test OK")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("receipt", nargs="?")
    ap.add_argument("--key")
    ap.add_argument("--key-file")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        self_test(); return 0
    try:
        need(a.receipt is not None, "no receipt file given")
        need((a.key is None) != (a.key_file is None), "give exactly one of --key / --key-file")
        key = open(a.key_file, encoding="utf-8").read() if a.key_file is not None else a.key
        key = key.strip()
        with open(a.receipt, encoding="utf-8") as f:
            rc = json.load(f)
        result = verify_receipt(rc, key)
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"FAIL: cannot read input: {e}", file=sys.stderr)
        return 1
    print("OK")
    print(json.dumps(result, sort_keys=False))
    return 0

if __name__ == "__main__":
    sys.exit(main())
