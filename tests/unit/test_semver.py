"""Semantic versions: validation, precedence with prereleases, the latest-version rule."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from package_api.errors import InvalidParameter
from plugin.registry import semver


@pytest.mark.parametrize("value", ["1.0.0", "0.0.1", "1.4.0-rc.1", "2.0.0+build.5", "1.0.0-alpha.beta+exp.sha.5114f85"])
def test_valid(value):
    assert semver.validate(value) == value


@pytest.mark.parametrize("value", ["", "1", "1.0", "v1.0.0", "latest", "1.0.0.0", "01.0.0", "1.0.0-", "candidate_1"])
def test_invalid(value):
    with pytest.raises(InvalidParameter):
        semver.validate(value)


def test_precedence_follows_the_spec():
    spec_order = [
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
        "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0",
    ]
    shuffled = list(reversed(spec_order))
    assert semver.ordered(shuffled, lambda v: v) == spec_order


def test_latest_is_the_highest_release():
    assert semver.latest(["1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0"], lambda v: v) == "1.10.0"


def test_latest_is_the_highest_prerelease_when_there_is_no_release():
    assert semver.latest(["1.0.0-alpha", "1.0.0-beta", "0.9.0-rc.1"], lambda v: v) == "1.0.0-beta"
    assert semver.latest([], lambda v: v) is None


def test_next_patch():
    assert semver.next_patch([]) == "1.0.0"
    assert semver.next_patch(["1.0.0", "1.4.2", "2.0.0-rc.1"]) == "1.4.3"


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)), min_size=1))
def test_latest_release_is_the_numeric_maximum(triples):
    versions = [f"{a}.{b}.{c}" for a, b, c in triples]
    assert semver.latest(versions, lambda v: v) == "{}.{}.{}".format(*max(triples))
