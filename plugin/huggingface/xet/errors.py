"""The one error of the Xet formats: what a client sent is not a valid hash, xorb or shard."""
from __future__ import annotations


class XetFormatError(ValueError):
    """The bytes are not what the Xet specification says they must be; the message says why, in
    words a client can act on (it is returned to the client as is)."""
