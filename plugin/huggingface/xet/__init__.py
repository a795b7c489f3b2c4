"""Xet (huggingface.co/docs/xet): the formats and hashes, pure Python over ``blake3`` and ``lz4``.
Import from :mod:`plugin.huggingface.xet.format`."""
