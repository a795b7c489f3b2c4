"""Packages: names and versions, their files, the content-addressed blobs behind them, uploads
(leases, streaming, digests), archives, latest/alias resolution, garbage collection and verify."""
