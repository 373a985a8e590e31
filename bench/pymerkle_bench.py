"""pymerkle on the same workload as yiwang's `bench ledger-*` scenarios, for a ratio in one run.

Leaves have yiwang's LeafV1 shape (version byte, length-prefixed kind/subject/actor, time,
payload hash). Appends are durable: pymerkle's SqliteTree commits each `append_entry`. Proofs
are inclusion proofs against the full tree, like `ledger::inclusion_proof`. Prints JSON lines.

    python3 bench/pymerkle_bench.py --appends 2000 --proof-leaves 100000 --samples 200
"""

import argparse
import hashlib
import json
import os
import random
import struct
import tempfile
import time

from pymerkle import SqliteTree


def leaf(i: int) -> bytes:
    def field(s: str) -> bytes:
        b = s.encode()
        return struct.pack(">I", len(b)) + b

    return (
        b"\x01"
        + field("bench.append")
        + field(f"item:{i}")
        + field("system")
        + struct.pack(">q", 1_700_000_000_000 + i)
        + hashlib.sha256(str(i).encode()).digest()
    )


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--proof-leaves", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tree = SqliteTree(os.path.join(tmp, "append.db"))
        started = time.perf_counter()
        for i in range(args.appends):
            tree.append_entry(leaf(i))
        seconds = time.perf_counter() - started
        tree.close()
        print(json.dumps({"scenario": "pymerkle_append", "writers": 1, "appends": args.appends,
                          "seconds": round(seconds, 3), "appends_per_second": round(args.appends / seconds, 1)}))

        tree = SqliteTree(os.path.join(tmp, "proof.db"))
        tree.append_entries(leaf(i) for i in range(args.proof_leaves))
        size = tree.get_size()
        rng = random.Random(7)
        latencies = []
        for _ in range(args.samples):
            index = rng.randrange(1, size + 1)  # pymerkle counts leaves from one
            started = time.perf_counter()
            tree.prove_inclusion(index, size)
            latencies.append((time.perf_counter() - started) * 1e6)
        tree.close()
        latencies.sort()
        print(json.dumps({"scenario": "pymerkle_inclusion_proof", "leaves": size, "samples": args.samples,
                          "p50_us": round(percentile(latencies, 0.50), 1), "p99_us": round(percentile(latencies, 0.99), 1),
                          "max_us": round(latencies[-1], 1)}))


if __name__ == "__main__":
    main()
