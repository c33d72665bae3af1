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
"""

from __future__ import annotations

import mmap
import socket
import struct

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
TPACKET_V2 = 1

# struct tpacket2_hdr: status, len, snaplen, mac, net, sec, nsec, vlan_tci, vlan_tpid, padding[4]
_TPACKET2_HDR = struct.Struct("IIIHHIIHH4x")
_SOCKADDR_LL_SIZE = 20
_TPACKET_ALIGNMENT = 16
_TX_DATA_OFFSET = -(-_TPACKET2_HDR.size // _TPACKET_ALIGNMENT) * _TPACKET_ALIGNMENT  # where a TX frame's bytes go

# Status words (the slot's first 4 bytes).
TP_STATUS_KERNEL = 0  # RX: the kernel may fill this slot
TP_STATUS_USER = 1  # RX: a frame for us
TP_STATUS_AVAILABLE = 0  # TX: free for us to fill
TP_STATUS_SEND_REQUEST = 1  # TX: filled, the next send() transmits it

_STATUS = struct.Struct("I")
_SNAPLEN_MAC = struct.Struct("8xIH")  # tp_snaplen and tp_mac, read in one go
_TX_LEN = struct.Struct("4xI")  # tp_len
_KERNEL = _STATUS.pack(TP_STATUS_KERNEL)
_SEND_REQUEST = _STATUS.pack(TP_STATUS_SEND_REQUEST)
_AVAILABLE = _STATUS.pack(TP_STATUS_AVAILABLE)

_TPACKET_REQ = struct.Struct("IIII")  # block_size, block_nr, frame_size, frame_nr


def _map_ring(sock: socket.socket, option: int, frame_size: int, frame_count: int) -> tuple[mmap.mmap, list[int]]:
    """Ask the kernel for a ring of frame_count slots and map it; the slots' offsets, in ring order."""
    block_size = max(mmap.PAGESIZE, 16 * frame_size)  # blocks are whole pages and hold whole slots
    per_block = block_size // frame_size
    blocks = -(-frame_count // per_block)
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
    sock.setsockopt(SOL_PACKET, option, _TPACKET_REQ.pack(block_size, blocks, frame_size, blocks * per_block))
    ring = mmap.mmap(sock.fileno(), block_size * blocks, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    offsets = [b * block_size + f * frame_size for b in range(blocks) for f in range(per_block)]
    return ring, offsets


class RxRing:
    """The receive ring of a bound AF_PACKET socket: the frames the socket's filter accepted, in arrival order."""

    # The kernel puts the frame at byte 80 of its slot (header, sockaddr_ll, alignment). 128-byte slots keep the
    # first 48 bytes: the 42 that ARP over Ethernet uses, and no more of the padding. Half the memory per slot of
    # 256 means twice the slots for a burst.
    FRAME_SIZE = 128

    def __init__(self, sock: socket.socket, frame_count: int):
        self.ring, self._offsets = _map_ring(sock, PACKET_RX_RING, self.FRAME_SIZE, frame_count)
        self._next = 0  # index of the next slot the kernel fills

    def ready(self) -> bool:
        """Whether the next slot holds a frame, without taking it."""
        return bool(self.ring[self._offsets[self._next]] & TP_STATUS_USER)  # status bit 0: its first byte, little-endian

    def take(self, limit: int) -> list[bytes]:
        """Up to limit frames, copied out; their slots go back to the kernel."""
        ring, offsets = self.ring, self._offsets
        unpack_from, count = _SNAPLEN_MAC.unpack_from, len(offsets)
        i = self._next
        frames = []
        while len(frames) < limit:
            slot = offsets[i]
            if not ring[slot] & TP_STATUS_USER:
                break
            snaplen, mac = unpack_from(ring, slot)
            start = slot + mac
            frames.append(ring[start : start + snaplen])
            ring[slot : slot + 4] = _KERNEL  # after the copy: from here on the kernel may overwrite the slot
            i += 1
            if i == count:
                i = 0
        self._next = i
        return frames

    def close(self) -> None:
        self.ring.close()


class TxRing:
    """The transmit ring of a bound AF_PACKET socket: fill slots, then one send() transmits them all."""

    FRAME_SIZE = 128  # header (32) + a 60-byte ARP frame

    def __init__(self, sock: socket.socket, frame_count: int):
        self.sock = sock
        # A malformed slot is skipped rather than halting the ring (it cannot happen: we check lengths).
        sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
        self.ring, self._offsets = _map_ring(sock, PACKET_TX_RING, self.FRAME_SIZE, frame_count)
        self._next = 0
        self.max_frame = self.FRAME_SIZE - _TX_DATA_OFFSET
        self.last_error: OSError | None = None  # why the last send() sent less than asked, if the kernel said

    def send(self, frames: list[bytes]) -> int:
        """Queue and transmit frames; how many went out.

        Frames that find no free slot (all still in flight), and frames the
        kernel could not take this time, are not sent: the caller counts
        them. Nothing stays queued to go out late.
        """
        ring, offsets, count = self.ring, self._offsets, len(self._offsets)
        pack_len = _TX_LEN.pack_into
        first = i = self._next
        queued = 0
        for frame in frames:
            slot = offsets[i]
            if ring[slot : slot + 4] != _AVAILABLE or len(frame) > self.max_frame:
                break
            ring[slot + _TX_DATA_OFFSET : slot + _TX_DATA_OFFSET + len(frame)] = frame
            pack_len(ring, slot, len(frame))
            ring[slot : slot + 4] = _SEND_REQUEST  # last: this hands the slot to the kernel
            queued += 1
            i += 1
            if i == count:
                i = 0
        self._next = i
        if not queued:
            return 0
        self.last_error = None
        try:
            self.sock.send(b"", socket.MSG_DONTWAIT)  # the kernel walks the ring from its head, sending each request
        except OSError as e:
            self.last_error = e  # link down, no buffer…: what it did not take is still marked, and taken back below
        return self._settle(first, queued)

    def _settle(self, first: int, queued: int) -> int:
        """After send(): count what went out; take back what the kernel left, and rewind to it.

        The kernel stops at the first slot it could not send and will start
        there next time, so that is where our next frame must go.
        """
        ring, offsets, count = self.ring, self._offsets, len(self._offsets)
        sent = 0
        for n in range(queued):
            index = (first + n) % count
            slot = offsets[index]
            status = _STATUS.unpack_from(ring, slot)[0]
            if status == TP_STATUS_SEND_REQUEST:
                for m in range(n, queued):
                    rest = offsets[(first + m) % count]
                    ring[rest : rest + 4] = _AVAILABLE
                self._next = index
                break
            sent += 1  # sent, or still on its way to the device (TP_STATUS_SENDING)
        return sent

    def close(self) -> None:
        self.ring.close()
