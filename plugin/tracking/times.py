"""MLflow's times: integer milliseconds since the epoch, UTC."""
from __future__ import annotations

import datetime
import time


def milliseconds(value: datetime.datetime | None) -> int | None:
    """A stored (naive UTC) time in MLflow's milliseconds."""
    if value is None:
        return None
    return int(value.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)
