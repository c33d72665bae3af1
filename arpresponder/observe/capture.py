"""`run --pcap FILE`: the requests handled and the replies handed to the engine, in a pcap file tcpdump and Wireshark read.

Written with scapy's PcapWriter from the responder's per-batch hook, raw
bytes as they came and went (never dissected), and bounded: after
`max_frames` records the file is closed and capturing stops.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import UserError

log = logging.getLogger("arpresponder")

DLT_EN10MB = 1  # Ethernet


class Capture:
    def __init__(self, path: Path, max_frames: int):
        from scapy.utils import PcapWriter

        self.path = path
        self.max_frames = max_frames
        self.written = 0
        try:
            self._writer = PcapWriter(str(path), linktype=DLT_EN10MB, sync=False)
            self._writer.write_header(None)  # a valid (empty) file even if nothing arrives
        except OSError as e:
            raise UserError(f"--pcap {path}: {e.strerror or e}") from None

    def on_batch(self, frames: list[bytes], replies: list[bytes]) -> None:
        """Responder hook: the batch's requests, then its replies, until the limit."""
        if self._writer is None:
            return
        try:
            for frame in (*frames, *replies):
                self._writer.write(frame)
                self.written += 1
                if self.written >= self.max_frames:
                    log.info(
                        "pcap: %d frames written to %s, the --pcap-max limit; capture stopped", self.written, self.path
                    )
                    self.close()
                    return
            self._writer.flush()
        except OSError as e:  # disk full, I/O error: the capture ends, answering goes on
            log.error(
                "pcap: writing %s failed (%s) after %d frames; capture stopped",
                self.path,
                e.strerror or e,
                self.written,
            )
            self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError as e:
                log.error("pcap: closing %s failed: %s", self.path, e.strerror or e)
