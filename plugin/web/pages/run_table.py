"""The runs table of an experiment's page, as its query string states it: the filter
(``?filter=``, MLflow's search language), the order (``?order_by=metrics.`acc` DESC``), the params
and metrics shown as columns (``?columns=params.lr,metrics.acc``), the page (``?page_token=``, with
``?prev=`` the tokens of the pages before it, for the Previous link) and its size (``?per_page=``);
and the links that change one of them and keep the rest."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from plugin.tracking.filters import split_order_clause

PARAMS, METRICS = "params", "metrics"
#: How the search language spells each kind (``metric.acc`` and ``metrics.acc`` are one column).
KINDS = {
    "param": PARAMS, "params": PARAMS, "parameter": PARAMS, "parameters": PARAMS,
    "metric": METRICS, "metrics": METRICS,
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes",
}  # fmt: skip
#: Until the user picks columns, the table shows this many params and as many metrics (by name).
DEFAULT_COLUMNS = 6
#: At most this many columns, however many are asked for.
MAX_COLUMNS = 50
PER_PAGE, MAX_PER_PAGE = 50, 200
#: The attribute columns the table sorts by: column -> the search's order key. (Duration and the
#: CI job are not keys MLflow sorts by.)
ATTRIBUTE_ORDERS = {
    "name": "attributes.run_name",
    "status": "attributes.status",
    "started": "attributes.start_time",
    "user": "attributes.user_id",
}
#: The search's default: the newest runs first.
DEFAULT_ORDER = ("attributes.start_time", False)


@dataclass(frozen=True)
class Column:
    """A param or metric shown as a column."""

    kind: str  # PARAMS or METRICS
    key: str

    @property
    def id(self) -> str:
        """How ``?columns=`` names it: ``params.lr``."""
        return f"{self.kind}.{self.key}"

    @property
    def order_key(self) -> str:
        """How ``order_by`` names it (quoted: keys may hold spaces and dots)."""
        return f"{self.kind}.`{self.key}`"

    @classmethod
    def parse(cls, text: str) -> Column | None:
        kind, dot, key = text.strip().partition(".")
        kind = KINDS.get(kind.lower(), "")
        key = _unquoted(key)
        return cls(kind, key) if dot and kind in (PARAMS, METRICS) and key else None


def normalised_order_key(text: str) -> str:
    """An order key as one spelling (``metric.`acc``` -> ``metrics.acc``), to tell which column a
    given ``order_by`` sorts."""
    kind, dot, key = text.strip().partition(".")
    if not dot:
        return f"attributes.{kind.strip('`')}"
    return f"{KINDS.get(kind.lower(), kind)}.{_unquoted(key)}"


def _unquoted(key: str) -> str:
    key = key.strip()
    return key[1:-1] if len(key) > 1 and key[0] == key[-1] and key[0] in "`\"'" else key


@dataclass(frozen=True)
class Sorting:
    """How a column header shows and changes the order: its link, and ``ascending``/``descending``
    when the table is sorted by it."""

    url: str
    direction: str | None


@dataclass(frozen=True)
class TableQuery:
    filter: str = ""
    order_by: str = ""  # "" is the search's default
    columns: tuple[Column, ...] | None = None  # None until the user picks
    page_token: str = ""
    previous: tuple[str, ...] = ()  # the tokens of the pages before this one ("" is the first)
    per_page: int = PER_PAGE

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> TableQuery:
        columns = None
        if "columns" in args:
            named = (Column.parse(part) for value in args.getlist("columns") for part in value.split(","))
            columns = tuple(dict.fromkeys(c for c in named if c is not None))[:MAX_COLUMNS]
        try:
            per_page = min(max(int(args.get("per_page", PER_PAGE)), 1), MAX_PER_PAGE)
        except ValueError:
            per_page = PER_PAGE
        return cls(
            filter=args.get("filter", "").strip(),
            order_by=args.get("order_by", "").strip(),
            columns=columns,
            page_token=args.get("page_token", ""),
            previous=tuple(args.getlist("prev")),
            per_page=per_page,
        )

    # -- what the search is asked ---------------------------------------------------------------------

    @property
    def orders(self) -> list[str]:
        return [self.order_by] if self.order_by else []

    def sorted_by(self) -> tuple[str, bool]:
        """The order key the table is sorted by, normalised, and whether ascending."""
        if not self.order_by:
            return DEFAULT_ORDER
        key, direction = split_order_clause(self.order_by)
        return normalised_order_key(key), (direction or "ASC") == "ASC"

    def shown_columns(self, params: Sequence[str], metrics: Sequence[str]) -> tuple[Column, ...]:
        """The chosen columns, or the first ``DEFAULT_COLUMNS`` of each kind of the logged keys."""
        if self.columns is not None:
            return self.columns
        return tuple(
            [Column(PARAMS, k) for k in params[:DEFAULT_COLUMNS]] + [Column(METRICS, k) for k in metrics[:DEFAULT_COLUMNS]]
        )

    # -- links ------------------------------------------------------------------------------------------

    def args(self, columns: Iterable[Column] | None = None) -> list[tuple[str, str]]:
        """The query string of this table (``columns``: the ones shown, kept as chosen)."""
        pairs: list[tuple[str, str]] = []
        if self.filter:
            pairs.append(("filter", self.filter))
        if self.order_by:
            pairs.append(("order_by", self.order_by))
        chosen = self.columns if columns is None else tuple(columns)
        if chosen is not None:
            pairs.append(("columns", ",".join(c.id for c in chosen)))
        if self.per_page != PER_PAGE:
            pairs.append(("per_page", str(self.per_page)))
        if self.page_token:
            pairs.append(("page_token", self.page_token))
            pairs.extend(("prev", token) for token in self.previous)
        return pairs

    def url(self, path: str, **changes: object) -> str:
        """``path`` with this table's query, changed by ``changes`` (fields of this class)."""
        query = urlencode(replace(self, **changes).args())  # type: ignore[arg-type]  # changes are fields
        return f"{path}?{query}" if query else path

    def sorting(self, path: str, order_key: str) -> Sorting:
        """The header of the column ``order_key`` sorts: sorted by it, it flips the direction;
        otherwise it sorts by it, descending (the highest metric first), from the first page."""
        key, ascending = self.sorted_by()
        current = key == normalised_order_key(order_key)
        direction = ("ascending" if ascending else "descending") if current else None
        flipped = "ASC" if current and not ascending else "DESC"
        return Sorting(self.url(path, order_by=f"{order_key} {flipped}", page_token="", previous=()), direction)

    def next_url(self, path: str, token: str | None) -> str | None:
        if not token:
            return None
        return self.url(path, page_token=token, previous=(*self.previous, self.page_token) if self.page_token else ("",))

    def previous_url(self, path: str) -> str | None:
        if not self.page_token:
            return None
        return self.url(path, page_token=self.previous[-1] if self.previous else "", previous=self.previous[:-1])

    @property
    def page_number(self) -> int:
        return len(self.previous) + 1 if self.page_token else 1


def columns_offered(shown: Sequence[Column], params: Sequence[str], metrics: Sequence[str]) -> Mapping[str, list[str]]:
    """The keys the column picker offers, by kind: the logged ones, and the shown ones besides."""
    offered = {PARAMS: list(params), METRICS: list(metrics)}
    for column in shown:
        if column.key not in offered[column.kind]:
            offered[column.kind].append(column.key)
    return {kind: sorted(keys) for kind, keys in offered.items()}
