"""Names for runs started without one: ``<adjective>-<noun>-<number>`` (``brave-otter-417``), as
MLflow names them, from word lists of our own. At most ``MAX_LENGTH`` characters, as MLflow's."""
from __future__ import annotations

import secrets

MAX_LENGTH = 20
ADJECTIVES = (
    "agile", "amber", "ample", "bold", "brave", "bright", "brisk", "calm", "candid", "clever", "cosmic",
    "crisp", "curious", "dapper", "daring", "deft", "eager", "earnest", "early", "easy", "fair", "fancy",
    "fleet", "fond", "frank", "gentle", "glad", "golden", "grand", "happy", "hardy", "hearty", "honest",
    "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "lucky", "mellow", "merry", "mighty",
    "modest", "neat", "nimble", "noble", "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid",
    "ready", "rosy", "rustic", "sage", "serene", "sharp", "shiny", "silent", "sleek", "smart", "snappy",
    "solid", "spry", "steady", "stout", "sturdy", "sunny", "swift", "tidy", "tranquil", "true", "upbeat",
    "valiant", "vivid", "warm", "wise", "witty", "zesty",
)  # fmt: skip
NOUNS = (
    "alpaca", "badger", "beaver", "bison", "crane", "cricket", "dingo", "dolphin", "eagle", "falcon",
    "ferret", "finch", "fox", "gazelle", "gecko", "gull", "hare", "hawk", "heron", "ibex", "jackal", "jay",
    "koala", "lark", "lemur", "lynx", "magpie", "marmot", "marten", "mole", "moose", "newt", "ocelot",
    "okapi", "oriole", "osprey", "otter", "owl", "panda", "parrot", "pelican", "pika", "plover", "puffin",
    "quail", "raven", "robin", "salmon", "seal", "shrew", "skink", "sparrow", "stork", "swan", "tapir",
    "tern", "toad", "trout", "turtle", "vole", "walrus", "wombat", "wren", "yak", "zebra",
)  # fmt: skip


def run_name() -> str:
    """A new ``<adjective>-<noun>-<number>`` of at most ``MAX_LENGTH`` characters (number 0 to 999)."""
    while True:
        name = f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{secrets.randbelow(1000)}"
        if len(name) <= MAX_LENGTH:
            return name
