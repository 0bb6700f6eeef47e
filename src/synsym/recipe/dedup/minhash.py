"""MinHash signatures and an LSH band index for dedup, one block of posts at a time in numpy.

datasketch defines the sketch: its permutations, its hash (SHA-1, 32 bits), its pre-mix and its band
layout (`MinHashLSH(threshold, num_perm, weights).b, .r`), so a signature here equals `MinHash.bulk`'s and
a candidate here is one `MinHashLSH.query` returns. What is done by hand is only the per-post work:
datasketch builds a MinHash object per post and hashes its bands one post at a time: on the paper's 18k
posts its signatures took 0.8 s of CPU (0.36 s here) and its index 1.4 s, and inside a run that work
holds the GIL while the answers of the other stages wait (benchmarks/pipeline_throughput.py); here the
signatures are a few array operations per block. `vectorised_matches_datasketch` checks the equality at
start-up: where a datasketch version computes differently, signatures come from `MinHash.bulk` instead
(slower, never different).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from functools import cache

import numpy as np
from datasketch import MinHash, MinHashLSH
from datasketch import minhash as _datasketch

_SHINGLES_PER_CHUNK = 20_000  # shingles per permutation product: 20k x 128 x 4 bytes = 10 MB


def _hash32(shingles: Sequence[bytes], dtype: type) -> np.ndarray:
    """datasketch's `sha1_hash32` of each shingle: the first 4 bytes of SHA-1, little-endian."""
    digests = b"".join(hashlib.sha1(s).digest()[:4] for s in shingles)
    return np.frombuffer(digests, dtype="<u4").astype(dtype)


def _vectorised(sets: Sequence[Sequence[bytes]], num_perm: int, seed: int) -> np.ndarray:
    proto = MinHash(num_perm=num_perm, seed=seed)
    scheme = proto.scheme
    dtype = _datasketch._SCHEME_DTYPES[scheme]
    a, b = proto.permutations
    lens = np.array([len(s) for s in sets], dtype=np.int64)
    out = np.empty((len(sets), num_perm), dtype=dtype)
    if scheme == _datasketch._SCHEME_LEGACY:
        prime, top = np.uint64(_datasketch._mersenne_prime), np.uint64(_datasketch._max_hash)
    start = 0
    while start < len(sets):
        stop, total = start, 0
        while stop < len(sets) and (total < _SHINGLES_PER_CHUNK or stop == start):
            total += int(lens[stop])
            stop += 1
        hv = _hash32([h for s in sets[start:stop] for h in s], dtype)[:, None]
        if scheme == _datasketch._SCHEME_LEGACY:
            phv = ((hv * a + b) % prime) & top
        else:
            phv = _datasketch._fmix(hv, _datasketch._SCHEME_WIDTHS[scheme]) * a + b
        offsets = np.concatenate([[0], np.cumsum(lens[start:stop])[:-1]])
        out[start:stop] = np.minimum.reduceat(phv, offsets, axis=0)
        start = stop
    return out


@cache
def vectorised_matches_datasketch(num_perm: int, seed: int) -> bool:
    """Whether `_vectorised` gives `MinHash.bulk`'s signatures for this installed datasketch."""
    probe = [[b"i cant sleep", b"cant sleep at", b"sleep at night"], [b"tired"], [b"x", b"y", b"x y"]]
    try:
        mine = _vectorised(probe, num_perm, seed)
    except (AttributeError, TypeError, ValueError):  # internals renamed or changed
        return False
    theirs = MinHash.bulk(probe, num_perm=num_perm, seed=seed)
    return all(np.array_equal(m, t.hashvalues) for m, t in zip(mine, theirs, strict=True))


def signatures(sets: Sequence[Sequence[bytes]], num_perm: int, seed: int) -> np.ndarray:
    """One row of `num_perm` MinHash values per non-empty set, as `MinHash.bulk` computes them."""
    if any(not s for s in sets):
        raise ValueError("an empty set has no MinHash signature")
    if not sets:
        return np.empty((0, num_perm), dtype=np.uint32)
    if vectorised_matches_datasketch(num_perm, seed):
        return _vectorised(sets, num_perm, seed)
    return np.stack([m.hashvalues for m in MinHash.bulk(sets, num_perm=num_perm, seed=seed)])


class BandIndex:
    """LSH over signature bands with `MinHashLSH`'s layout: posts that share one band are candidates."""

    def __init__(self, threshold: float, num_perm: int, weights: tuple[float, float]) -> None:
        layout = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
        self.bands, self.rows = layout.b, layout.r
        self._tables: list[defaultdict[bytes, list[int]]] = [defaultdict(list) for _ in range(self.bands)]

    def keys(self, signature: np.ndarray) -> list[bytes]:
        """The band keys of one signature."""
        r = self.rows
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def query(self, keys: list[bytes]) -> set[int]:
        found: set[int] = set()
        for table, key in zip(self._tables, keys, strict=True):
            hit = table.get(key)
            if hit:
                found.update(hit)
        return found

    def insert(self, item: int, keys: list[bytes]) -> None:
        for table, key in zip(self._tables, keys, strict=True):
            table[key].append(item)


def jaccard(signatures: np.ndarray, one: np.ndarray) -> np.ndarray:
    """The MinHash Jaccard estimate of `one` against each row of `signatures` (datasketch's `jaccard`)."""
    return (signatures == one).mean(axis=1)
