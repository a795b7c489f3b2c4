"""Forms of the model registry pages: a mistake the user can fix is shown beside the field it
concerns, in the re-rendered form, instead of on an error page."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from package_api.errors import AlreadyExists, InvalidInput, InvalidParameter

T = TypeVar("T")


@dataclass(frozen=True)
class FormError:
    """A message for the form, the field it belongs to (``None``: the whole form) and the status
    the re-rendered page is sent with."""

    message: str
    field: str | None = None
    status: int = 400


def attempt(work: Callable[[], T], *, duplicate: FormError | None = None) -> T | FormError:
    """Run ``work`` (one service call) for a form; return its result, or the ``FormError`` of an
    invalid input, or ``duplicate`` (if given) when the name it would take exists already.

    Any other error (``NotFound``, ``Forbidden``, storage) propagates to the HTML error pages.
    """
    try:
        return work()
    except InvalidParameter as exc:
        return FormError(f"{exc.param.replace('_', ' ').capitalize()} {exc.problem}", exc.param)
    except InvalidInput as exc:
        return FormError(exc.reason)
    except AlreadyExists:
        if duplicate is None:
            raise
        return duplicate
