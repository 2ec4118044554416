"""One module per kind of host state. Each reads actual state, diffs it and applies changes.

Resources import ``spec``, ``model``, ``errors`` and the transport protocol only.
"""
