"""The query every list page reads: a name filter, an order, a direction and a page."""
from __future__ import annotations

from dataclasses import dataclass

from flask import request

from package_api.web.api.pagination import page_args


@dataclass(frozen=True)
class ListingQuery:
    search: str
    order_by: str
    sort: str
    page: int
    per_page: int


def listing_query(default_order: str) -> ListingQuery:
    """This request's listing parameters; raise ``InvalidParameter`` for a bad page number.
    Order and direction are checked by the service that lists."""
    page, per_page = page_args(request.args)
    return ListingQuery(
        search=request.args.get("search", "").strip(),
        order_by=request.args.get("order_by", default_order),
        sort=request.args.get("sort", "desc"),
        page=page,
        per_page=per_page,
    )
