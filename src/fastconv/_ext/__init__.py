"""Compiled extension modules (built from csrc/ and _ext/*.pyx)."""
