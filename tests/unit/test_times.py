"""MLflow's milliseconds (``plugin.tracking.times``): computed without making an aware time, they are
what the aware time's ``timestamp() * 1000`` gives (the answers' times did not move by a millisecond)."""
from __future__ import annotations

import datetime
import random

from plugin.tracking.times import from_milliseconds, milliseconds


def test_milliseconds_are_the_aware_timestamp_s() -> None:
    draw = random.Random(15)
    epoch = datetime.datetime(1970, 1, 1)
    for n in range(200_000):
        # Whole milliseconds (times the client gave) and any microsecond, from 1970 to 2096.
        micros = draw.randrange(0, 4 * 10**12) * 1000 if n % 2 else draw.randrange(0, 4 * 10**15)
        value = epoch + datetime.timedelta(microseconds=micros)
        assert milliseconds(value) == int(value.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000), value
    assert milliseconds(None) is None
    assert milliseconds(from_milliseconds(1796546174459)) == 1796546174459
