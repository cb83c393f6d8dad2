"""Wisdom: what planning learned, saved and restored as one blob.

export_wisdom() returns bytes (JSON) holding FFTW's wisdom (what pyFFTW's
planner measured) and the convolution algorithms that algorithm="measure"
chose, each keyed on the SIMD level, dtype, thread count, operation and
geometry; import_wisdom(data) restores both, so a later process plans
instantly (no timing).  Choices made on another SIMD level or thread count
are kept but not used: their keys differ."""
import base64
import json

from . import fft
from ._conv_plan import load_measured_choices, measured_choices

_FORMAT = "fastconv-wisdom"


def export_wisdom():
    """The process's planning wisdom as bytes (write them to a file)."""
    try:
        fftw = [base64.b64encode(w).decode("ascii") for w in fft.export_fft_wisdom()]
    except (AttributeError, ImportError, TypeError):  # no pyFFTW
        fftw = None
    return json.dumps({"format": _FORMAT, "version": 1, "fftw": fftw, "conv": measured_choices()}).encode()


def import_wisdom(data):
    """Restores wisdom from export_wisdom's bytes (or their str); returns
    {"fftw": pyFFTW's success flags or None, "conv": choices restored}."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode()
    if not isinstance(data, str):
        raise TypeError(f"data must be the bytes export_wisdom returned; received {type(data).__name__}")
    try:
        blob = json.loads(data)
        ok = blob.get("format") == _FORMAT and blob.get("version") == 1
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise ValueError("data is not fastconv wisdom (export_wisdom's bytes)")
    flags = None
    if blob.get("fftw"):
        try:
            flags = fft.import_fft_wisdom(tuple(base64.b64decode(w) for w in blob["fftw"]))
        except (AttributeError, ImportError):  # no pyFFTW here
            flags = None
    try:
        conv = load_measured_choices(blob.get("conv") or [])
    except (TypeError, ValueError):
        raise ValueError("data is not fastconv wisdom: its convolution choices are malformed") from None
    return {"fftw": flags, "conv": conv}
