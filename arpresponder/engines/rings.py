"""PACKET_MMAP rings (TPACKET_V2): frames move through memory shared with the kernel, not through system calls.

See the kernel's Documentation/networking/packet_mmap.rst. Each ring is an
array of fixed-size slots; a slot starts with a `struct tpacket2_hdr` whose
status word says who owns it. Receiving is reading every slot the kernel
has handed to us (TP_STATUS_USER) and handing it back; sending is filling
free slots, marking them TP_STATUS_SEND_REQUEST and making one `send()`
call for the lot.

Why V2 and not V3: V3 hands over whole blocks, and a block sits until it
fills or a retire timer fires, so at low rates a request would wait for the
timer (milliseconds). V2 hands over each frame as it lands: latency does
not depend on any timer, and `poll()` wakes on the first frame.

Ordering: the kernel's documentation pairs each status change with a memory
barrier; Python has none to offer. We write a slot's data before its status
word and read the status before the data, which x86's store ordering keeps
in that order; on weakly ordered CPUs (ARM) this is not guaranteed.
"""

from __future__ import annotations

import contextlib
import mmap
import socket
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..codec import ETHERTYPE_VLAN
from .linux import SOL_PACKET

if TYPE_CHECKING:
    import numpy as np

PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
TPACKET_V2 = 1

# struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec, vlan_tci, vlan_tpid, padding[4]
_TPACKET2_HDR = struct.Struct("IIIHHIIHH4x")
_TPACKET_ALIGNMENT = 16
_TX_DATA_OFFSET = -(-_TPACKET2_HDR.size // _TPACKET_ALIGNMENT) * _TPACKET_ALIGNMENT  # where a TX frame's bytes go

# Status words (the slot's first 4 bytes).
TP_STATUS_KERNEL = 0  # RX: the kernel may fill this slot
TP_STATUS_USER = 1  # RX: a frame for us
TP_STATUS_VLAN_VALID = 1 << 4  # RX: the frame came with a VLAN tag, moved to tp_vlan_tci
TP_STATUS_VLAN_TPID_VALID = 1 << 6  # RX: and its TPID to tp_vlan_tpid
TP_STATUS_AVAILABLE = 0  # TX: free for us to fill
TP_STATUS_SEND_REQUEST = 1  # TX: filled, the next send() transmits it

_SNAPLEN_MAC = struct.Struct("8xIH")  # tp_snaplen and tp_mac, read in one go
_VLAN_TCI_TPID = struct.Struct("24xHH")  # tp_vlan_tci and tp_vlan_tpid
_VLAN_TAG = struct.Struct("!HH")  # a tag on the wire: TPID, TCI

_TPACKET_REQ = struct.Struct("IIII")  # block_size, block_nr, frame_size, frame_nr


class _Ring:
    """A ring mapped from the kernel, its slots' offsets in ring order, and the next slot to use.

    Status words are read and written through a uint32 view: an item
    assignment costs a third of a 4-byte slice assignment on the mmap.
    """

    FRAME_SIZE: int

    def __init__(self, sock: socket.socket, option: int, frame_count: int):
        block_size = max(mmap.PAGESIZE, 16 * self.FRAME_SIZE)  # blocks are whole pages and hold whole slots
        per_block = block_size // self.FRAME_SIZE
        blocks = -(-frame_count // per_block)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, option, _TPACKET_REQ.pack(block_size, blocks, self.FRAME_SIZE, blocks * per_block))
        self.ring = mmap.mmap(sock.fileno(), block_size * blocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._status = memoryview(self.ring).cast("I")  # status word of the slot at byte offset o: _status[o >> 2]
        self._offsets = [b * block_size + f * self.FRAME_SIZE for b in range(blocks) for f in range(per_block)]
        self._next = 0  # index of the next slot, in step with the kernel's own
        # Blocks hold whole slots with nothing between them (FRAME_SIZE divides the page size), so slot i is
        # at i * FRAME_SIZE: the ring is one (slots, FRAME_SIZE) array for the batch methods.
        assert block_size % self.FRAME_SIZE == 0
        self._slots: np.ndarray | None = None  # made on first use: the per-frame methods never need numpy

    def _slot_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The ring as (slots, FRAME_SIZE) bytes and, over the same memory, (slots, FRAME_SIZE / 4) uint32 words."""
        if self._slots is None:
            # numpy only now: the per-frame methods, and every command that imports the engines, start without it
            # (0.1-0.4 s and 15 MB here).
            import numpy as np

            self._slots = np.frombuffer(self.ring, dtype=np.uint8).reshape(len(self._offsets), self.FRAME_SIZE)
        return self._slots, self._slots.view("u4")

    def _following(self, first: int, n: int) -> slice | np.ndarray:
        """The n slots from index first on, wrapping at the end: a slice when they do not wrap (no copy)."""
        if first + n <= len(self._offsets):
            return slice(first, first + n)
        import numpy as np  # loaded already: _slot_arrays came first

        return (first + np.arange(n)) % len(self._offsets)

    def close(self) -> None:
        self._status.release()  # the mmap cannot close while a view of it exists
        self._slots = None  # nor while an array over it does
        # A view still held somewhere (a traceback's frame) keeps the mapping until the last view goes; not an error.
        with contextlib.suppress(BufferError):
            self.ring.close()


class RxRing(_Ring):
    """The receive ring of a bound AF_PACKET socket: the frames the socket's filter accepted, in arrival order."""

    # The kernel puts the frame's network header at byte 80 of its slot (header, sockaddr_ll, alignment), so
    # the Ethernet header starts at 66: 128-byte slots hold 62 bytes, a whole minimum-size frame (60 bytes,
    # ARP's size on the wire), and cut anything longer, which ARP over Ethernet never needs. Half the memory
    # per slot of 256 means twice the slots for a burst.
    FRAME_SIZE = 128

    def __init__(self, sock: socket.socket, frame_count: int):
        super().__init__(sock, PACKET_RX_RING, frame_count)

    def take(self, limit: int) -> list[bytes]:
        """Up to limit frames, copied out; their slots go back to the kernel."""
        ring, status, offsets = self.ring, self._status, self._offsets
        unpack_from, count = _SNAPLEN_MAC.unpack_from, len(offsets)
        i = self._next
        frames = []
        while len(frames) < limit:
            slot = offsets[i]
            word = status[slot >> 2]
            if not word & TP_STATUS_USER:
                break
            snaplen, mac = unpack_from(ring, slot)
            start = slot + mac
            frame = ring[start : start + snaplen]
            if word & TP_STATUS_VLAN_VALID:
                frame = self._retagged(slot, word, frame)
            frames.append(frame)
            status[slot >> 2] = TP_STATUS_KERNEL  # after the copy: from here on the kernel may overwrite the slot
            i += 1
            if i == count:
                i = 0
        self._next = i
        return frames

    def _retagged(self, slot: int, word: int, frame: bytes) -> bytes:
        """frame with its VLAN tag back where it was on the wire, so the decision sees what arrived.

        The kernel strips a tag into the slot's header before any socket
        sees the frame; the decision, shared with engines that get tags
        inline, reads them from the bytes.
        """
        return _with_tag(self.ring, slot, word, frame)

    def holds(self, count: int) -> bool:
        """At least count frames wait (1 ≤ count ≤ the ring's size): one status word read, no copy.

        The kernel fills slots in ring order, so the count-th slot from ours
        being filled says the ones before it were handed out too (one still
        being written on another CPU stops take_array short of it). For
        choosing between take and take_array before taking.
        """
        return bool(self._status[self._offsets[(self._next + count - 1) % len(self._offsets)] >> 2] & TP_STATUS_USER)

    def take_array(self, limit: int) -> RxBatch:
        """Up to limit frames (at most the ring's size) as one array: copies of their slots, which go back to the kernel.

        The same frames take(limit) would return, in the same order; a batch
        of N is 2 numpy copies instead of N slices (see RxBatch).
        """
        slots, words = self._slot_arrays()
        first = self._next
        following = self._following(first, min(limit, len(words)))
        ready = words[following, 0] & TP_STATUS_USER != 0
        n = len(ready) if ready.all() else int(ready.argmin())  # up to the first slot still the kernel's
        taken = self._following(first, n)
        batch = RxBatch(slots[taken].copy())  # the status words were read first: the data behind them is complete
        words[taken, 0] = TP_STATUS_KERNEL  # after the copy: from here on the kernel may overwrite the slots
        self._next = (first + n) % len(words)
        return batch


def _with_tag(header: bytes | mmap.mmap, slot: int, word: int, frame: bytes) -> bytes:
    """frame with the VLAN tag that the slot header at `slot` in `header` holds put back after the MAC addresses."""
    tci, tpid = _VLAN_TCI_TPID.unpack_from(header, slot)
    if not word & TP_STATUS_VLAN_TPID_VALID:
        tpid = ETHERTYPE_VLAN  # an older kernel that does not say: 802.1Q
    return frame[:12] + _VLAN_TAG.pack(tpid, tci) + frame[12:]


class RxBatch:
    """Frames taken from an RX ring at once: `slots`, copies of their ring slots, (N, RxRing.FRAME_SIZE) uint8.

    Each row is a slot as the kernel filled it: the tpacket2_hdr (status,
    lengths, where the frame starts, a VLAN tag moved out of the frame),
    then the frame. For the batch decision (batch.BatchDecider.decide):
    `slots`, `lengths`, FRAME_OFFSET, and `odd` (frames to leave to
    decide(), which takes them as `frame(i)`).
    """

    # Where the Ethernet header starts in a slot (tp_mac) for a frame with a 14-byte link header: the kernel puts
    # the network header at 80 (TPACKET_ALIGN(tpacket2_hdr + sockaddr_ll)).
    FRAME_OFFSET = 66

    def __init__(self, slots: np.ndarray):
        self.slots = slots
        header = slots.view("u4")
        self.status = header[:, 0]  # tp_status: TP_STATUS_* bits
        self.lengths = header[:, 2]  # tp_snaplen: the frame's bytes in the slot
        self.starts = slots.view("u2")[:, 6]  # tp_mac: where the frame starts in the slot

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        """Frame i (see frame()), or a list of the frames a slice picks: a batch is a sequence of frames, built as
        bytes only when asked for (the sketch asks for a few, --pcap for all)."""
        if isinstance(index, slice):
            return [self.frame(i) for i in range(*index.indices(len(self.slots)))]
        return self.frame(index)

    def __iter__(self) -> Iterator[bytes]:
        return (self.frame(i) for i in range(len(self.slots)))

    @property
    def odd(self) -> np.ndarray:
        """(N,) bool: frames not at FRAME_OFFSET, or whose VLAN tag the kernel moved into the slot header."""
        return (self.starts != self.FRAME_OFFSET) | (self.status & TP_STATUS_VLAN_VALID != 0)

    def frame(self, i: int) -> bytes:
        """Frame i as RxRing.take returns it: its bytes, with a VLAN tag moved into the header put back."""
        row = self.slots[i].tobytes()
        word, start, length = int(self.status[i]), int(self.starts[i]), int(self.lengths[i])
        frame = row[start : start + length]
        return _with_tag(row, 0, word, frame) if word & TP_STATUS_VLAN_VALID else frame


class TxRing(_Ring):
    """The transmit ring of a bound AF_PACKET socket: fill slots, then one send() transmits them all."""

    FRAME_SIZE = 128  # header (32) + a 60-byte ARP frame

    def __init__(self, sock: socket.socket, frame_count: int):
        # A malformed slot is skipped rather than halting the ring (it cannot happen: we check lengths).
        sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
        super().__init__(sock, PACKET_TX_RING, frame_count)
        self.sock = sock
        self.max_frame = self.FRAME_SIZE - _TX_DATA_OFFSET
        self.last_error: OSError | None = None  # why the last send() sent less than asked, if the kernel said

    def send(self, frames: list[bytes]) -> int:
        """Queue and transmit frames; how many went out.

        Frames that find no free slot (all still in flight), and frames the
        kernel could not take this time, are not sent: the caller counts
        them. Nothing stays queued to go out late.
        """
        ring, status, offsets, count = self.ring, self._status, self._offsets, len(self._offsets)
        first = i = self._next
        queued = 0
        for frame in frames:
            slot = offsets[i]
            size = len(frame)
            if status[slot >> 2] != TP_STATUS_AVAILABLE or size > self.max_frame:
                break
            ring[slot + _TX_DATA_OFFSET : slot + _TX_DATA_OFFSET + size] = frame
            status[(slot >> 2) + 1] = size  # tp_len
            status[slot >> 2] = TP_STATUS_SEND_REQUEST  # last: this hands the slot to the kernel
            queued += 1
            i += 1
            if i == count:
                i = 0
        self._next = i
        if not queued:
            return 0
        return self._transmit(first, queued)

    def send_array(self, frames: np.ndarray) -> int:
        """Queue and transmit the rows of frames (uint8, shape (N, L), L ≤ max_frame bytes each); how many went out.

        As send(frames as a list of bytes), in N-independent numpy steps.
        ValueError if a row is longer than a slot holds.
        """
        if frames.shape[1] > self.max_frame:
            raise ValueError(f"frames of {frames.shape[1]} bytes do not fit a TX slot (at most {self.max_frame})")
        slots, words = self._slot_arrays()
        first = self._next
        following = self._following(first, min(len(frames), len(words)))
        free = words[following, 0] == TP_STATUS_AVAILABLE
        queued = len(free) if free.all() else int(free.argmin())  # up to the first slot still in flight
        if not queued:
            return 0
        taken = self._following(first, queued)
        slots[taken, _TX_DATA_OFFSET : _TX_DATA_OFFSET + frames.shape[1]] = frames[:queued]
        words[taken, 1] = frames.shape[1]  # tp_len
        words[taken, 0] = TP_STATUS_SEND_REQUEST  # last: this hands the slots to the kernel
        self._next = (first + queued) % len(words)
        return self._transmit(first, queued)

    def _transmit(self, first: int, queued: int) -> int:
        """One send() for the `queued` slots filled from index first on; how many the kernel took."""
        status, offsets, count = self._status, self._offsets, len(self._offsets)
        self.last_error = None
        try:
            self.sock.send(b"", socket.MSG_DONTWAIT)  # the kernel walks the ring from its head, sending each request
        except OSError as e:
            # Link down, no buffer…: what it did not take is still marked, and taken back below. Kept without its
            # traceback, whose frames hold views of the ring (send_array's arrays), which would keep close() from
            # unmapping it (BufferError).
            self.last_error = e.with_traceback(None)
        if status[offsets[(first + queued - 1) % count] >> 2] != TP_STATUS_SEND_REQUEST:
            return queued  # the kernel goes in order: past the last one, it took them all
        return self._take_back(first, queued)

    def _take_back(self, first: int, queued: int) -> int:
        """The kernel stopped before the end: how many it took; take back the rest and rewind to them.

        It stops at the first slot it could not send and will start there
        next time, so that is where our next frame must go.
        """
        status, offsets, count = self._status, self._offsets, len(self._offsets)
        for n in range(queued):
            index = (first + n) % count
            if status[offsets[index] >> 2] == TP_STATUS_SEND_REQUEST:
                for m in range(n, queued):
                    status[offsets[(first + m) % count] >> 2] = TP_STATUS_AVAILABLE
                self._next = index
                return n
        return queued
