"""MLflow's search filter language: what the 3.17 client sends parses, what it must refuse is
refused in MLflow's words, and rendering then parsing gives back the same comparisons."""
from __future__ import annotations

import fnmatch
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from package_api.errors import InvalidInput
from plugin.mlflow_registry.model_versions import SEARCH_GRAMMAR as VERSIONS
from plugin.mlflow_registry.registered_models import SEARCH_GRAMMAR as MODELS
from plugin.tracking import filters, search
from plugin.tracking.experiments import SEARCH_GRAMMAR as EXPERIMENTS
from plugin.tracking.filters import ATTRIBUTE, METRIC, PARAM, TAG, Comparison
from plugin.tracking.runs import SEARCH_GRAMMAR as RUNS


@pytest.mark.parametrize(
    ("text", "grammar", "expected"),
    [
        (
            "name LIKE 'm%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
            MODELS,
            [Comparison(ATTRIBUTE, "name", "LIKE", "m%"), Comparison(TAG, "mlflow.prompt.is_prompt", "!=", "true")],
        ),
        (
            "tags.owner = 'alice' AND tag.`mlflow.prompt.is_prompt` != 'true'",
            MODELS,
            [Comparison(TAG, "owner", "=", "alice"), Comparison(TAG, "mlflow.prompt.is_prompt", "!=", "true")],
        ),
        (
            "name='m' and tags.validated='true'",
            VERSIONS,
            [Comparison(ATTRIBUTE, "name", "=", "m"), Comparison(TAG, "validated", "=", "true")],
        ),
        ("run_id IN ('a', \"b\")", VERSIONS, [Comparison(ATTRIBUTE, "run_id", "IN", ("a", "b"))]),
        ("run_id NOT IN ('a')", VERSIONS, [Comparison(ATTRIBUTE, "run_id", "NOT IN", ("a",))]),
        ("version_number >= 2", VERSIONS, [Comparison(ATTRIBUTE, "version_number", ">=", 2.0)]),
        ("source_path ILIKE '%S3%'", VERSIONS, [Comparison(ATTRIBUTE, "source_path", "ILIKE", "%S3%")]),
        ('tags."my key" = "it\'s"', VERSIONS, [Comparison(TAG, "my key", "=", "it's")]),
        ("tags.a.b = 'c'", VERSIONS, [Comparison(TAG, "a.b", "=", "c")]),
        (
            "metrics.loss < 0.2 and params.lr = '0.1'",
            RUNS,
            [Comparison(METRIC, "loss", "<", 0.2), Comparison(PARAM, "lr", "=", "0.1")],
        ),
        ("attributes.status = 'FINISHED'", RUNS, [Comparison(ATTRIBUTE, "status", "=", "FINISHED")]),
        ("`run name` = 'r1'", RUNS, [Comparison(ATTRIBUTE, "run_name", "=", "r1")]),
        ("", VERSIONS, []),
        ("  ", VERSIONS, []),
    ],
)
def test_client_filters_parse(text: str, grammar: filters.Grammar, expected: list[Comparison]) -> None:
    assert filters.parse(text, grammar) == expected


@pytest.mark.parametrize(
    ("text", "grammar", "message"),
    [
        (
            "nme=='x'",
            VERSIONS,
            "Invalid attribute key 'nme' specified. Valid keys are '{'name', 'run_id', 'source_path', 'version_number'}'",
        ),
        ("metrics.x > 1", VERSIONS, "Invalid entity type 'metrics'. Valid values are ['attribute', 'tag']"),
        ("name = x", VERSIONS, "Expected a quoted string value for attribute 'name'. Got value x"),
        ("name > 'x'", VERSIONS, "Invalid comparator '>' not one of"),
        ("version_number LIKE '1'", VERSIONS, "Invalid comparator 'LIKE' not one of"),
        (
            "version_number = 'one'",
            VERSIONS,
            "Expected numeric value type for numeric attribute: version_number. Found 'one'",
        ),
        ("name = 'a' OR name = 'b'", VERSIONS, "Invalid clause(s) in filter string"),
        ("name = 'a' name = 'b'", VERSIONS, "Expected 'AND'"),
        ("name = 'a' AND", VERSIONS, "Expected an identifier at the end"),
        ("name IN 'a'", VERSIONS, "Expected '('"),
        ("tags.x IN ('a')", VERSIONS, "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"),
        (
            "source_path IN ('a', 'b')",
            VERSIONS,
            "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values.",
        ),
        ("status IN ('RUNNING')", RUNS, "Only ['run_id'] attributes support comparison with a list"),
        ("start_time IN (1)", RUNS, "Expected numeric value type for numeric attribute: start_time. Found (1)"),
        ("metrics.x > '1'", RUNS, "Expected numeric value type for metric. Found '1'"),
        (
            "run_name IS NULL",
            RUNS,
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'attribute' 'run_name'",
        ),
        ("metrics.x IS NOT NULL", RUNS, "only supported for tags and params, not for 'metric' 'x'"),
        ("tags.x IS 'a'", RUNS, "Expected 'NULL', found ''a''"),
        ("name IS NULL", EXPERIMENTS, "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"),
        ("name IN ('a')", EXPERIMENTS, "Only ['experiment_id'] attributes support comparison with a list"),
        ("tags.x IS NULL", MODELS, "IS NULL / IS NOT NULL is not supported in this search"),
        (" AND ".join(["name = 'a'"] * 101), VERSIONS, "it has 101 comparisons, more than the 100 allowed"),
        ("name = '" + "a" * 10_000 + "'", VERSIONS, "it has 10009 characters, more than the 10000 allowed"),
        ("name = 'unterminated", VERSIONS, "Could not be parsed"),
        ("tags.`` = 'x'", VERSIONS, "A key must follow"),
        ("tags. = 'x'", VERSIONS, "Could not be parsed"),
        ("= 'x'", VERSIONS, "Expected an identifier, found '='"),
    ],
)
def test_bad_filters_say_why(text: str, grammar: filters.Grammar, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        filters.parse(text, grammar)
    assert message in str(refused.value)


def test_an_absent_tag_satisfies_only_is_null() -> None:
    """As in MLflow's SQL stores: a comparison on a key the entity lacks is false, ``!=`` too."""
    for operator in ("=", "!=", "LIKE", "ILIKE"):
        assert not Comparison(TAG, "x", operator, "v").matches(None)
    assert Comparison(TAG, "x", "IS NULL", None).matches(None)
    assert not Comparison(TAG, "x", "IS NOT NULL", None).matches(None)
    assert Comparison(TAG, "x", "IS NOT NULL", None).matches("")
    assert Comparison(TAG, "x", "!=", "v").matches("w")


@pytest.mark.parametrize(
    ("text", "passing"),
    [  # MLflow's registry: models without the prompt tag are not prompts; prompts are left out
        # unless the filter asks for them (its first comparison on the tag is = 'true' or != 'false').
        ("", {"plain", "not-a-prompt"}),
        ("tags.`mlflow.prompt.is_prompt` != 'true'", {"plain", "not-a-prompt"}),
        ("tags.`mlflow.prompt.is_prompt` = 'false'", {"plain", "not-a-prompt"}),
        ("tags.`mlflow.prompt.is_prompt` LIKE '%'", {"plain", "not-a-prompt"}),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", {"prompt"}),
        ("tags.`mlflow.prompt.is_prompt` != 'false'", {"prompt"}),
        ("tags.`mlflow.prompt.is_prompt` = 'TRUE'", set()),
    ],
)
def test_the_prompt_tag_rule(text: str, passing: set[str]) -> None:
    tags = {"plain": None, "not-a-prompt": "false", "prompt": "true"}
    comparisons = filters.without_prompts(filters.parse(text, MODELS))
    assert {name for name, tag in tags.items() if all(c.matches(tag) for c in comparisons)} == passing


def test_comparisons_match() -> None:
    assert Comparison(ATTRIBUTE, "name", "LIKE", "fraud%").matches("fraud-detector")
    assert not Comparison(ATTRIBUTE, "name", "LIKE", "FRAUD%").matches("fraud-detector")
    assert Comparison(ATTRIBUTE, "name", "ILIKE", "FRAUD%").matches("fraud-detector")
    assert Comparison(ATTRIBUTE, "version_number", ">", 2.0).matches(3.0)
    assert Comparison(ATTRIBUTE, "run_id", "IN", ("a", "b")).matches("b")
    assert not Comparison(ATTRIBUTE, "run_id", "NOT IN", ("a", "b")).matches("b")
    assert Comparison(METRIC, "loss", "<=", 0.5).matches(0.5)


@given(pattern=st.text(alphabet="ab%_", max_size=8), text=st.text(alphabet="ab", max_size=8))
def test_like_is_sql_like(pattern: str, text: str) -> None:
    expected = fnmatch.fnmatchcase(text, pattern.replace("%", "*").replace("_", "?"))
    assert filters.like(pattern, text) is expected
    assert filters.like(pattern.upper(), text, ignore_case=True) is expected
    assert filters.like(pattern.upper(), text) is (expected and pattern.upper() == pattern)


def test_like_takes_linear_time_whatever_the_pattern() -> None:
    """The pattern of the issue, which a regex translation took minutes over, and a longer one."""
    started = time.perf_counter()
    for pattern in ("%_" * 20 + "!", "%_" * 2000 + "!", "%a" * 500 + "%b"):
        assert not filters.like(pattern, "a" * 10_000)
        assert not filters.like(pattern, "a" * 10_000, ignore_case=True)
    assert time.perf_counter() - started < 1.0


@given(pattern=st.text(max_size=8), text=st.text(max_size=8))
def test_like_treats_other_characters_literally(pattern: str, text: str) -> None:
    literal = pattern.replace("%", "").replace("_", "")
    assert filters.like(literal, text) is (literal == text)


_KEYS = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="`\x00"), min_size=1, max_size=12)
_VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_STRING_OPERATORS = st.sampled_from(["=", "!=", "LIKE", "ILIKE"])


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def _comparisons(draw: st.DrawFn) -> Comparison:
    kind = draw(st.sampled_from(["name", "tag", "version_number", "run_id"]))
    if kind == "tag":
        return Comparison(TAG, draw(_KEYS), draw(_STRING_OPERATORS), draw(_VALUES))
    if kind == "version_number":
        number = float(draw(st.integers(min_value=0, max_value=10**6)))
        return Comparison(ATTRIBUTE, "version_number", draw(st.sampled_from(sorted(filters.NUMERIC_OPERATORS))), number)
    if kind == "run_id" and draw(st.booleans()):
        values = tuple(draw(st.lists(_VALUES, min_size=1, max_size=3)))
        return Comparison(ATTRIBUTE, "run_id", draw(st.sampled_from(["IN", "NOT IN"])), values)
    return Comparison(ATTRIBUTE, kind, draw(_STRING_OPERATORS), draw(_VALUES))


def _render(comparison: Comparison) -> str:
    key = f"tags.`{comparison.key}`" if comparison.kind == TAG else comparison.key
    if isinstance(comparison.value, tuple):
        return f"{key} {comparison.operator} ({', '.join(_quote(v) for v in comparison.value)})"
    value = repr(int(comparison.value)) if isinstance(comparison.value, float) else _quote(comparison.value)
    return f"{key} {comparison.operator} {value}"


@given(st.lists(_comparisons(), min_size=1, max_size=4), st.sampled_from([" AND ", " and ", "  AND\t"]))
def test_rendered_filters_parse_back(comparisons: list[Comparison], joiner: str) -> None:
    assert filters.parse(joiner.join(_render(c) for c in comparisons), VERSIONS) == comparisons


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_as_input(text: str) -> None:
    try:
        filters.parse(text, RUNS)
    except InvalidInput:
        pass


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("version_number DESC", filters.Ordering(ATTRIBUTE, "version_number", False)),
        ("name", filters.Ordering(ATTRIBUTE, "name", True)),
        ("name asc", filters.Ordering(ATTRIBUTE, "name", True)),
        ("last_updated_timestamp DESC", filters.Ordering(ATTRIBUTE, "last_updated_timestamp", False)),
    ],
)
def test_order_by(clause: str, expected: filters.Ordering) -> None:
    assert filters.parse_order_by(clause, frozenset({"name", "version_number", "last_updated_timestamp"})) == expected


def test_order_by_refuses_unknown_keys() -> None:
    with pytest.raises(InvalidInput, match="Invalid order by key 'size'"):
        filters.parse_order_by("size DESC", frozenset({"name"}))
    with pytest.raises(InvalidInput, match="Could not be parsed"):
        filters.parse_order_by("", frozenset({"name"}))
    ordering = filters.parse_order_by("metrics.`val loss` DESC", frozenset({"name"}), frozenset({METRIC}))
    assert ordering == filters.Ordering(METRIC, "val loss", False)


@given(st.integers(min_value=0, max_value=10**9))
def test_page_tokens_round_trip(offset: int) -> None:
    assert search.offset(search.page_token(offset)) == offset


@pytest.mark.parametrize("token", ["not base64!", "bm90IGpzb24=", "eyJvZmZzZXQiOiAiYSJ9", "WzFd"])
def test_bad_page_tokens(token: str) -> None:
    with pytest.raises(InvalidInput, match="Invalid page token"):
        search.offset(token)
