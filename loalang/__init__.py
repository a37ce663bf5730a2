"""Loa Làng command line and version."""

from protocol import __version__

__all__ = ["__version__"]
