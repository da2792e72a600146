"""Routing decision latency; see __main__.py and README.md."""
