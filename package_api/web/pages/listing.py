"""The query every list page reads: a name filter, an order, a direction and a page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request

from package_api.web.api.pagination import page_args


@dataclass(frozen=True)
class ListingQuery:
    search: str
    order_by: str
    sort: str
    page: int
    per_page: int

    def listed(self) -> dict[str, Any]:
        """The arguments of a service's ``list``/``page``: ``search`` (``None`` when empty), order,
        direction and page."""
        return {"search": self.search or None, "order_by": self.order_by, "sort": self.sort,
                "page": self.page, "per_page": self.per_page}

    def shown(self) -> dict[str, str]:
        """What the list's template shows of the query: the search field and the sort menu."""
        return {"search": self.search, "order_by": self.order_by, "sort": self.sort}


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
