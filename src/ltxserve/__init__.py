"""ltxserve: self-hosted LTX-2.3 video generation."""

from importlib.metadata import version

__version__ = version("ltxserve")
