"""Heavy hitters in bounded memory: which keys (IPs) show up most, without a dict that grows with every sender.

A Misra-Gries summary fed a batch at a time (by Stats.sketch_batch, which
samples large batches and weights the sample); only when more
than 2k keys are held does it shrink back to k, by subtracting the (k+1)-th
largest count from every key and forgetting those that reach zero (the merge
step of Agarwal et al., "Mergeable summaries"). So memory stays O(k), and a
count is low by at most total/(k+1): exact while fewer than 2k distinct keys
have been seen, and any key with more than total/(k+1) hits is always listed.
Those bounds hold for what it is fed: under a flood Stats.sketch_batch feeds
a weighted sample, so the counts are then estimates.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from operator import itemgetter


class TopK:
    def __init__(self, k: int = 64):
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        self.k = k
        self._counts: Counter[bytes] = Counter()

    def update(self, keys: Iterable[bytes], weight: int = 1) -> None:
        """Count each key `weight` times (a sample standing for that many frames); weight 1 runs at C speed."""
        counts = self._counts
        if weight == 1:
            counts.update(keys)
        else:
            get = counts.get
            for key in keys:
                counts[key] = get(key, 0) + weight
        if len(self._counts) > 2 * self.k:
            self._shrink()

    def merge(self, counts: Mapping[bytes, int]) -> None:
        """Add another summary's counts (take() of one fed in a worker process): Misra-Gries summaries merge so."""
        get = self._counts.get
        for key, n in counts.items():
            self._counts[key] = get(key, 0) + n
        if len(self._counts) > 2 * self.k:
            self._shrink()

    def take(self) -> dict[bytes, int]:
        """The counts so far, and start again from none (what a worker process hands to the main one)."""
        counts, self._counts = self._counts, Counter()
        return dict(counts)

    def _shrink(self) -> None:
        floor = heapq.nlargest(self.k + 1, self._counts.values())[-1]
        # A new Counter is swapped in whole: readers in other threads see the old or the new one, never half.
        self._counts = Counter({key: n - floor for key, n in self._counts.items() if n > floor})

    def top(self, n: int) -> list[tuple[bytes, int]]:
        """The n keys with the highest (lower-bound) counts, highest first."""
        snapshot = dict(self._counts)  # one C-level copy: safe while the loop thread updates
        return heapq.nlargest(n, snapshot.items(), key=itemgetter(1))

    def __len__(self) -> int:
        return len(self._counts)
