"""Exceptions and warnings of :mod:`httpreuse`."""

from __future__ import annotations

from typing import Optional

__all__ = ["HttpReuseError", "CaptureError", "CaptureWarning"]


class HttpReuseError(Exception):
    """Base class of the errors this package raises."""


class CaptureError(HttpReuseError):
    """A capture could not be read: missing, not a capture, or corrupt.

    ``file`` names the input and ``offset`` is the byte offset in it where
    reading stopped (``None`` when the problem is not at a place in the file,
    e.g. a missing file). ``str(err)`` is the CLI's message, which names both.
    """

    def __init__(self, message: str, file: Optional[str] = None, offset: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.offset = offset

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable, so it crosses Dask and Spark workers intact
        return (type(self), (self.message, self.file, self.offset))


class CaptureWarning(UserWarning):
    """A capture was cut off or corrupt part way: the results cover the frames before it."""
