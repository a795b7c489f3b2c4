"""Forms of the pages: a mistake the user can fix is shown beside the field it concerns, in the
re-rendered form, instead of on an error page; and a form that fails changes nothing."""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from package_api.db import db, utcnow
from package_api.errors import AlreadyExists, InvalidInput, InvalidParameter

T = TypeVar("T")

#: Headers of the page that shows a new secret (a token): the answer to the form that made it, which
#: neither the browser's cache nor the server keeps, so the secret is shown this once.
SHOWN_ONCE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class FormError:
    """A message for the form, the field it belongs to (``None``: the whole form) and the status
    the re-rendered page is sent with."""

    message: str
    field: str | None = None
    status: int = 400

    def on(self, field: str) -> str | None:
        """The message if it belongs to ``field`` (for ``{{ error.on('name') }}`` in templates)."""
        return self.message if self.field == field else None


def attempt(work: Callable[[], T], *, duplicate: FormError | None = None) -> T | FormError:
    """Run ``work`` (a service call, which commits its own change) for a form; return its result,
    or the ``FormError`` of an invalid input, or ``duplicate`` (if given) when the name it would take
    exists already. On an error the session is rolled back: a service has rolled its unit of work
    back already, and this drops whatever else ``work`` left in the session before it failed, so
    nothing of it is kept and the form is re-rendered from what is stored.

    Any other error (``NotFound``, ``Forbidden``, storage) propagates to the HTML error pages.
    """
    try:
        return work()
    except InvalidParameter as exc:
        db.session.rollback()
        return FormError(f"{exc.param.replace('_', ' ').capitalize()} {exc.problem}", exc.param)
    except InvalidInput as exc:
        db.session.rollback()
        return FormError(exc.reason)
    except AlreadyExists:
        db.session.rollback()
        if duplicate is None:
            raise
        return duplicate


def tomorrow() -> datetime.date:
    """The first day a new token may expire on (UTC): the ``min`` of expiry date fields."""
    return utcnow().date() + datetime.timedelta(days=1)
