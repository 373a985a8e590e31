#!/usr/bin/env python3
"""Independent audit of a log served through the C2SP tlog-tiles read API.

Written from the standards alone, standard library only:
  * C2SP tlog-tiles - <prefix>/checkpoint, <prefix>/tile/<L>/<N>[.p/<W>] and
    <prefix>/tile/entries/<N>[.p/<W>], index paths in x-prefixed groups of
    three digits, partial tiles of width floor(s / 256**L) mod 256, entry
    bundles of big-endian uint16 length-prefixed entries;
  * RFC 9162 section 2.1 - leaf and node hashing and MTH;
  * C2SP tlog-checkpoint and signed-note, and RFC 8032 Ed25519, through the
    functions of verify_receipt.py (the receipt verifier beside this file).

It reads the checkpoint (checking its signature when a key is given), fetches
every tile and entry bundle of the checkpoint's tree, checks that each entry
hashes to its level-0 tile hash (and decodes as a yiwang LeafV1), that each full tile hashes to its hash in the
tile above, and that the tiles recompute the checkpoint's root. It reads the
whole log, so it is meant for tests and small logs.

Usage:  verify_tiles.py PREFIX_URL [--key KEY]
        verify_tiles.py --self-test
"""
import argparse, json, os, sys, urllib.error, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_receipt import (Fail, need, leaf_hash, node_hash, parse_key, open_note,  # noqa: E402
                            parse_checkpoint, decode_leaf, _mth)

WIDTH = 256  # hashes in a full tile; a tile spans 8 tree levels

def index_path(n):
    """Tile index n as zero-padded three-digit groups, all but the last prefixed with x."""
    groups = [n % 1000]
    while n >= 1000:
        n //= 1000
        groups.append(n % 1000)
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])

def tile_path(level, n, width):
    return f"tile/{level}/{index_path(n)}" + (f".p/{width}" if width < WIDTH else "")

def entries_path(n, width):
    return f"tile/entries/{index_path(n)}" + (f".p/{width}" if width < WIDTH else "")

def tiles_of(size):
    """{(level, n): width} of every tile of a tree of `size` leaves."""
    tiles, level = {}, 0
    while size >> (8 * level):
        row = size >> (8 * level)  # hashes at tree height 8*level
        for n in range(row // WIDTH):
            tiles[(level, n)] = WIDTH
        if row % WIDTH:
            tiles[(level, row // WIDTH)] = row % WIDTH
        level += 1
    return tiles

def subtree_hash(hashes):
    """MTH of a perfect subtree given the hashes of its 2**k equal parts."""
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]

def root_from_tiles(size, tiles):
    """RFC 9162 root of a tree of `size` leaves: its perfect subtrees, one per set bit of the
    size from the largest (leftmost), folded from the right; each read from the tile row at
    its height rounded down to a multiple of 8."""
    need(size > 0, "no root from the tiles of an empty tree")
    parts = []
    for height in range(size.bit_length() - 1, -1, -1):
        if not size >> height & 1:
            continue
        index = (size >> height) - 1  # the last perfect subtree of this height
        level, rest = divmod(height, 8)
        first = index << rest  # its first hash in the row at tree height 8*level
        row = tiles[(level, first // WIDTH)]
        parts.append(subtree_hash(row[first % WIDTH:first % WIDTH + (1 << rest)]))
    root = parts[-1]
    for left in reversed(parts[:-1]):
        root = node_hash(left, root)
    return root

def fetch(url, content_type):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            need(r.status == 200, f"{url}: status {r.status}")
            got = r.headers.get("Content-Type", "")
            need(got == content_type, f"{url}: Content-Type {got!r}, not {content_type!r}")
            return r.read()
    except urllib.error.HTTPError as e:
        raise Fail(f"{url}: HTTP {e.code}")
    except urllib.error.URLError as e:
        raise Fail(f"{url}: {e.reason}")

def split_bundle(bundle):
    entries, pos = [], 0
    while pos < len(bundle):
        need(pos + 2 <= len(bundle), "entry bundle: truncated length")
        n = int.from_bytes(bundle[pos:pos + 2], "big")
        need(pos + 2 + n <= len(bundle), "entry bundle: truncated entry")
        entries.append(bundle[pos + 2:pos + 2 + n])
        pos += 2 + n
    return entries

def audit(prefix, key=None):
    prefix = prefix.rstrip("/")
    text = fetch(f"{prefix}/checkpoint", "text/plain; charset=utf-8").decode("utf-8")
    if key is not None:
        body = open_note(text, *parse_key(key))
    else:
        split = text.find("\n\n")
        need(split >= 0, "checkpoint: no blank line before signatures")
        body = text[:split + 1]
    origin, size, root = parse_checkpoint(body)
    need(size > 0, "checkpoint: empty tree")
    octets = "application/octet-stream"
    tiles = {}
    for (level, n), width in sorted(tiles_of(size).items()):
        data = fetch(f"{prefix}/{tile_path(level, n, width)}", octets)
        need(len(data) == 32 * width, f"{tile_path(level, n, width)}: {len(data)} bytes, not {32 * width}")
        tiles[(level, n)] = [data[i:i + 32] for i in range(0, len(data), 32)]
    entries = 0
    for (level, n), width in sorted(tiles_of(size).items()):
        if level == 0:
            bundle = split_bundle(fetch(f"{prefix}/{entries_path(n, width)}", octets))
            need(len(bundle) == width, f"{entries_path(n, width)}: {len(bundle)} entries, not {width}")
            for i, entry in enumerate(bundle):
                need(leaf_hash(entry) == tiles[(0, n)][i], f"entry {n * WIDTH + i} does not hash to its tile hash")
                decode_leaf(entry)
            entries += len(bundle)
        if width == WIDTH:  # a full tile is one hash of the tile above
            above = tiles.get((level + 1, n // WIDTH))
            need(above is not None and len(above) > n % WIDTH,
                 f"{tile_path(level, n, width)} has no hash in the level above")
            need(subtree_hash(tiles[(level, n)]) == above[n % WIDTH],
                 f"{tile_path(level, n, width)} does not hash to its hash in the level above")
    need(entries == size, f"{entries} entries for a tree of {size}")
    need(root_from_tiles(size, tiles) == root, "the tiles do not recompute the checkpoint's root")
    return {"ok": True, "origin": origin, "tree_size": size, "tiles": len(tiles), "entries": entries}

def self_test():
    assert index_path(0) == "000" and index_path(999) == "999" and index_path(1000) == "x001/000"
    assert index_path(1234067) == "x001/x234/067"
    assert tile_path(0, 1234067, 8) == "tile/0/x001/x234/067.p/8"
    assert entries_path(5, 256) == "tile/entries/005"
    # The spec's tree of 70,000: 273 full level-0 tiles and one of width 112, one full
    # level-1 tile and one of width 17, one level-2 tile of width 1.
    t = tiles_of(70000)
    assert sum(1 for (l, _), w in t.items() if l == 0 and w == WIDTH) == 273 and t[(0, 273)] == 112
    assert t[(1, 0)] == WIDTH and t[(1, 1)] == 17 and t[(2, 0)] == 1 and len(t) == 277
    assert tiles_of(256) == {(0, 0): WIDTH, (1, 0): 1}
    # Roots from tiles equal RFC 9162 MTH for sizes across tile boundaries.
    data = [i.to_bytes(4, "big") for i in range(600)]
    hashes = [leaf_hash(d) for d in data]
    for size in (1, 2, 3, 255, 256, 257, 511, 512, 513, 600):
        tiles = {}
        for (level, n), width in tiles_of(size).items():
            span = WIDTH ** level  # leaves under each hash of the tile
            tiles[(level, n)] = [subtree_hash(hashes[(n * WIDTH + i) * span:(n * WIDTH + i + 1) * span])
                                 for i in range(width)]
        assert root_from_tiles(size, tiles) == _mth(data[:size]), size
    b = b"\x00\x02ab\x00\x00"
    assert split_bundle(b) == [b"ab", b""]
    try:
        split_bundle(b"\x00\x05ab")
        raise AssertionError("a truncated bundle was accepted")
    except Fail:
        pass
    print("self-test OK")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix", nargs="?", help="the log's URL prefix, e.g. http://host/ledger")
    ap.add_argument("--key", help="the signed-note verifier key; the checkpoint signature is checked")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        self_test(); return 0
    try:
        need(a.prefix is not None, "no URL prefix given")
        result = audit(a.prefix, a.key.strip() if a.key else None)
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("OK")
    print(json.dumps(result))
    return 0

if __name__ == "__main__":
    sys.exit(main())
