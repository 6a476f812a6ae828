"""The version of tlsdiag, in one place.  Pure data."""

__version__ = "0.1.0"
