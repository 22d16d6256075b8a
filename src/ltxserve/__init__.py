"""ltxserve: self-hosted LTX-2.3 video generation."""
