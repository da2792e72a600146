"""Signaling benchmark: many Socket.IO clients run whole calls against one real `vbranch serve`.

Run it with `python -m bench.signaling`; see README.md next to this file.
"""
