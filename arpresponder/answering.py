"""Answering what waits in one link's ring: a lone request at once, a flood a batch at a time.

Each time the loop looks at a link, `Answerer.serve(engine)` takes what its
engine holds and answers it by one of two paths, chosen from what waits:

- **frame by frame** (what the engine's take() gives, up to MAX_BATCH): the
  responder decides each frame with decide(), the replies go out in one
  send(), and only then are the frames counted, sketched and shown to
  --pcap: a lone request's reply leaves after the ring, the decision and
  the send, nothing else;
- **the batch path** (batch.py), when the ring holds at least MIN_BATCH
  frames (RxRing.holds: one status word read) and the link may use it: the
  ring's slots copied out as one array (take_array), decided with numpy;
  the frames it is not sure of, and every frame whose target is withheld at
  this moment, go through the responder's decide() as above; the replies go
  out as one array (send_array). Below MIN_BATCH numpy costs more than it
  saves (bench/BATCH_COST.md).

A link may use the batch path when its responder says so (`batch_ok`:
not in standby or claim mode, whose withheld addresses are not a list;
service.py), it answers untagged frames (a VLAN link's frames all need
decide()), decisions are not being logged (-v), and its engine has the
ring methods (the packet engine). Addresses withheld at the moment (a
subnet's broadcast, one yielded to another host) send their frames to
decide(); the frames an owner table learns from (a drop in SENDER_TELLS
from a sender in the set: BatchDecision.telling) go to the responder's
notice() as decide_frames() hands them over, tested equal to decide()'s
in tests/test_batch.py. The batch decider is built for the link's set the
first time a flood comes; a big set's (0.1-0.2 s for a million entries) in
a thread, with the per-frame path answering meanwhile, so the loop never
stalls for it.

Both paths count alike: every frame once in received and in one drop
reason or replied; the top-K sketch gets at most SKETCH_SAMPLE frames of a
batch, as bytes (RxBatch builds only those); --pcap gets every frame and
reply, as bytes, built only when it is on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, overload

from .responder import Responder

if TYPE_CHECKING:
    import numpy as np

    from .batch import BatchDecider
    from .engines import Engine
    from .engines.rings import RxBatch

log = logging.getLogger("arpresponder")

MIN_BATCH = 64  # frames from which the batch path is faster than decide() frame by frame (bench/BATCH_COST.md)
# A set with more entries than this gets its batch decider built in a thread: sorting it takes long enough
# (about 0.15 µs an entry) to hold up the loop.
BUILD_INLINE_ENTRIES = 20_000


class Answerer:
    """Takes and answers what waits in one link's engine, for that link's responder (and its counters)."""

    def __init__(self, responder: Responder):
        self.responder = responder
        self._decider: BatchDecider | None = None  # for self._decider_set; its MAC is brought up to date on use
        self._decider_set: object = None
        self._built: tuple[object, BatchDecider] | None = None  # what the builder thread hands over
        self._builder: threading.Thread | None = None
        # What the engine served last offers (engines differ: only the packet engine has rings to read as arrays).
        self._engine: Engine | None = None
        self._holds: Callable[[int], bool] | None = None
        self._send_one: Callable[[bytes], int] | None = None

    def serve(self, engine: Engine) -> int:
        """Take the frames waiting in engine and answer them; how many were taken (0: none waited).

        OSError or EngineError from the engine's take (a link down, the
        interface gone): the caller handles them.
        """
        if engine is not self._engine:
            self._engine = engine
            self._holds = getattr(engine, "holds", None)
            self._send_one = getattr(engine, "send_lone", None)
        holds = self._holds
        if holds is not None and holds(MIN_BATCH) and self._batch_allowed():
            decider = self._current_decider()
            if decider is not None:
                batch = engine.take_array()
                self._answer_array(engine, decider, batch)
                return len(batch)
        frames = engine.take()
        if frames:
            self._answer_frames(engine, frames)
        return len(frames)

    def _answer_frames(self, engine: Engine, frames: list[bytes]) -> None:
        responder = self.responder
        replies, dropped = responder.decide_frames(frames)
        if replies and not responder.dry_run:  # the replies leave here
            send_one = self._send_one
            sent = send_one(replies[0]) if send_one is not None and len(replies) == 1 else engine.send_batch(replies)
        else:
            sent = 0
        responder.count(frames, replies, dropped)
        if replies and not responder.dry_run:
            responder.stats.count_sent(len(replies), sent)

    def _answer_array(self, engine: Engine, decider: BatchDecider, batch: RxBatch) -> None:
        import numpy as np

        from .batch import DROPS, arp_targets

        responder = self.responder
        unsure = batch.odd
        withheld = responder.withheld  # read now, every batch: a policy may change it between two
        if withheld:
            targets = arp_targets(batch.slots, batch.FRAME_OFFSET).tolist()
            unsure |= np.fromiter(map(withheld.__contains__, targets), dtype=bool, count=len(targets))
        decision = decider.decide(batch.slots, batch.lengths, batch.FRAME_OFFSET, unsure)
        dropped = decision.drop_counts()
        told = decision.telling()  # what the owner table learns from, as decide_frames() hands it over
        if len(told) and responder.notice is not None:
            responder.notice([(batch[int(i)], DROPS[int(decision.codes[i])]) for i in told])
        replies: np.ndarray | list[bytes] = decision.replies
        left = decision.unsure
        if len(left):
            settled, more = responder.decide_frames([batch[int(i)] for i in left])
            dropped.update(more)
            replies = _joined(decision.replies, settled)
        send = not responder.dry_run and len(replies)
        if isinstance(replies, list):
            sent = engine.send_batch(replies) if send else 0
        else:
            sent = engine.send_array(replies) if send else 0
            replies = Rows(replies)
        responder.count(batch, replies, dropped)
        if send:
            responder.stats.count_sent(len(replies), sent)

    # --- the batch decider, per set ---

    def _batch_allowed(self) -> bool:
        responder = self.responder
        return responder.batch_ok and not responder.vlan and not log.isEnabledFor(logging.DEBUG)

    def _current_decider(self) -> BatchDecider | None:
        """The batch decider for the responder's set and MAC now; None while a big set's is being built."""
        addresses, mac = self.responder.addresses, self.responder.mac
        if self._decider_set is not addresses:
            built = self._built
            if built is not None and built[0] is addresses:
                self._decider_set, self._decider, self._built = addresses, built[1], None
            elif self._entries(addresses) <= BUILD_INLINE_ENTRIES:
                from .batch import BatchDecider

                self._decider_set, self._decider = addresses, BatchDecider(addresses, mac)
            else:
                if self._builder is None or not self._builder.is_alive():
                    self._builder = threading.Thread(target=self._build, args=(addresses, mac), daemon=True,
                                                     name="batch decider")  # fmt: skip
                    self._builder.start()
                return None
        if self._decider.our_mac != mac:
            self._decider = self._decider.for_mac(mac)
        return self._decider

    def _build(self, addresses, mac: bytes) -> None:
        from .batch import BatchDecider

        self._built = (addresses, BatchDecider(addresses, mac))

    @staticmethod
    def _entries(addresses) -> int:
        return len(addresses.singles) + len(addresses.range_starts)


class Rows(Sequence[bytes]):
    """The rows of a 2-D uint8 array (replies, one a row) as a sequence of bytes, made only when asked for."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [row.tobytes() for row in self.rows[index]]
        return self.rows[index].tobytes()

    def __iter__(self) -> Iterator[bytes]:
        return (row.tobytes() for row in self.rows)


def _joined(replies: np.ndarray, settled: list[bytes]) -> np.ndarray | list[bytes]:
    """The batch's replies and those decide() gave for its unsure frames, as one array when they are all one size."""
    if not settled:
        return replies
    import numpy as np

    width = replies.shape[1]
    if any(len(reply) != width for reply in settled):
        return [row.tobytes() for row in replies] + settled
    more = np.frombuffer(b"".join(settled), dtype=np.uint8).reshape(len(settled), width)
    return np.concatenate([replies, more])
