"""The engine: LTX-2.3 on ltx-core with resident models. Heavy (torch); import it only where it runs."""
