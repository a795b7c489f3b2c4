"""Sizes on the benches' command lines: ``256M``, ``1G``, ``1.5GiB``, ``1048576``."""
from __future__ import annotations

import argparse
import re

MIB = 1024 * 1024
_UNITS = {"": 1, "B": 1, "K": 1024, "M": MIB, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (use e.g. 256M, 2G, 1048576)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
