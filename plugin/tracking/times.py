"""MLflow's times: integer milliseconds since the epoch, UTC."""
from __future__ import annotations

import datetime
import time

#: The epoch as a stored (naive UTC) time.
EPOCH = datetime.datetime(1970, 1, 1)


def milliseconds(value: datetime.datetime | None) -> int | None:
    """A stored (naive UTC) time in MLflow's milliseconds (what ``value.replace(tzinfo=utc).timestamp()
    * 1000`` gives, the same float arithmetic, without making an aware time: a search answers hundreds)."""
    if value is None:
        return None
    return int((value - EPOCH).total_seconds() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def from_milliseconds(value: int) -> datetime.datetime:
    """MLflow's milliseconds as a stored (naive UTC) time."""
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.timezone.utc).replace(tzinfo=None)
