"""Spectra of small operands kept for reuse: a kernel applied to image
after image is transformed once (the last few, and a bounded number of
bytes, least recently used first out)."""
import collections
import threading

# at most this many spectra, and this many bytes in all
SPECTRA_COUNT = 4
SPECTRA_BYTES = 128 << 20


class SpectrumCache:
    """Recently used spectra of small operands, least recently used first out."""

    def __init__(self, count, nbytes):
        self._count, self._nbytes = count, nbytes
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        if key is None:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key, spectrum):
        if key is None or spectrum.nbytes > self._nbytes:
            return
        with self._lock:
            self._items[key] = spectrum.copy()
            while len(self._items) > self._count or sum(v.nbytes for v in self._items.values()) > self._nbytes:
                self._items.popitem(last=False)

    def clear(self):
        with self._lock:
            self._items.clear()


spectra = SpectrumCache(SPECTRA_COUNT, SPECTRA_BYTES)
