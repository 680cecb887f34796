"""The supervisor's side of the preview taps: each node's latest picture, read from its tap ring
(one small realtime ring per node, written by its stage) when the editor asks, never torn."""

from __future__ import annotations

import threading

import numpy as np

from .. import shm
from .channels import Inlet
from .config import tap_suffix


class PreviewTaps:
    def __init__(self, tap_index: dict[str, int]):
        self.tap_index = tap_index  # node id -> tap index (empty: previews are off)
        self._lock = threading.Lock()
        self._inlets: dict[str, Inlet] = {}
        self._pictures: dict[str, np.ndarray] = {}
        self._open = False
        self._run_id = ""

    def open(self, run_id: str) -> None:
        with self._lock:
            self._run_id, self._open = run_id, True

    def latest(self, node_id: str) -> np.ndarray | None:
        """The node's newest picture while the run goes, else the last one it had; None before any."""
        if node_id not in self.tap_index:
            return None
        with self._lock:
            if self._open:
                inlet = self._inlets.get(node_id)
                if inlet is None:
                    index = self.tap_index[node_id]
                    inlet = self._inlets[node_id] = Inlet(self._run_id, lambda g: tap_suffix(index, g), 0, False)
                try:
                    packet = inlet.read(0)
                except shm.RingAborted:
                    packet = None
                if packet is not None and not packet.eos:
                    self._pictures[node_id] = packet.value
            return self._pictures.get(node_id)

    def close(self) -> None:
        """The run ended: let go of the rings; the pictures stay."""
        with self._lock:
            self._open = False
            for inlet in self._inlets.values():
                inlet.close()
            self._inlets.clear()
