"""Protected alias rule patterns: ``*`` matches any run of characters, everything else itself, and
matching never backtracks (a pattern a user wrote cannot stall the server)."""
from __future__ import annotations

import pytest

from package_api.errors import InvalidInput
from plugin.promotion.models import AliasRule
from plugin.promotion.rules import Protection, checked_pattern, wildcard_match


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("prod", "prod", True),
        ("prod", "prod2", False),
        ("prod*", "prod", True),
        ("prod*", "production", True),
        ("prod*", "pre-prod", False),
        ("*prod", "pre-prod", True),
        ("*", "anything", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "a-b-c", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),  # the two ends may not share a character
        ("*-eu-*", "prod-eu-west", True),
        ("*-eu-*", "prod-us-west", False),
        ("**", "", True),
    ],
)
def test_wildcards(pattern: str, name: str, matches: bool) -> None:
    assert wildcard_match(pattern, name) is matches


def test_a_pattern_that_makes_backtracking_regexes_explode_is_answered_at_once() -> None:
    pattern, name = "*a" * 100 + "*b", "a" * 255  # (.*a){100}.*b against 255 a's: exponential for backtracking
    assert wildcard_match(pattern[:255], name) is False


def test_patterns_take_alias_characters_and_stars_only() -> None:
    assert checked_pattern("prod-*_eu") == "prod-*_eu"
    for wrong in ("", "prod.+", "prod/(a+)+", "x" * 256, 7):
        with pytest.raises(InvalidInput):
            checked_pattern(wrong)


def test_rules_matching_one_alias_ask_for_the_most_of_each() -> None:
    rules = (
        AliasRule(alias_pattern="prod*", minimum_access_level=30, approvals_required=2, required_tags="eval=passed"),
        AliasRule(alias_pattern="*", minimum_access_level=40, approvals_required=0, required_tags="owner=team\neval=passed"),
    )
    protection = Protection(rules)
    assert (protection.names, protection.minimum_access_level, protection.approvals_required) == ("prod*, *", 40, 2)
    assert protection.tags == [("eval", "passed"), ("owner", "team")]
    assert protection.missing_tags({"eval": "passed", "owner": "other"}) == ["owner=team"]
