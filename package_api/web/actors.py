"""Who a request makes its changes as, whichever surface serves it: for code shared by the API and
the pages (a plugin's services, say), which cannot tell which caller to ask for."""
from __future__ import annotations

from package_api.identity import Actor
from package_api.web.api import context as api_context
from package_api.web.errors import is_api_request
from package_api.web.pages import context as page_context


def request_actor() -> Actor:
    """The actor of the request being served: its caller as the surface serving it knows it (the
    API's token or session under ``/api/``, the pages' session elsewhere), from the client's address.

    Raise what resolving the API's caller raises (``Unauthorized``, ``InvalidCsrfToken``).
    """
    return api_context.actor() if is_api_request() else page_context.actor()
