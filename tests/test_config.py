"""Profiles and their validation."""

from __future__ import annotations

import pytest

from recranker_core.config import RunConfig, config_from_dict, load_profile
from recranker_core.errors import InputError


@pytest.mark.parametrize("name", ["smoke", "quick", "paper", "official"])
def test_named_profiles_load(name):
    config = load_profile(name)
    assert config.profile == name and config.baselines.primary in config.baselines.models


def test_round_trip_through_a_dict():
    config = load_profile("smoke")
    raw = config.to_dict()
    assert config_from_dict({k: v for k, v in raw.items() if k != "profile"}, where="x", profile="smoke") == config


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"colour": {}}, "unknown field 'colour'"),
        ({"baselines": {"models": "ease"}}, "'baselines.models' must be a list"),
        ({"baselines": {"models": ["ease", "svd++"]}}, "unknown model 'svd++'"),
        ({"baselines": {"primary": "bpr", "models": ["ease"]}}, "baselines.primary = 'bpr' is not in"),
        ({"baselines": {"embedding_model": "ease"}}, "has no user embeddings"),
        ({"evaluation": {"ci_level": 1.5}}, "ci_level = 1.5"),
        ({"data": {"min_likes": 2}}, "min_likes = 2"),
        ({"seed": "x"}, "'seed' must be int"),
        ({"seeds": 0}, "seeds = 0 must be at least 1"),
        ({"baselines": {"exclude": "future"}}, "baselines.exclude = 'future'"),
        ({"prompts": {"history": "oldest"}}, "prompts.history = 'oldest'"),
        ({"prompts": {"listwise_positives": "three"}}, "prompts.listwise_positives = 'three'"),
        ({"prompts": {"min_disliked": -1}}, "prompts.min_disliked = -1 must not be negative"),
    ],
)
def test_bad_values_are_named(raw, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("+", r"\+")):
        config_from_dict(raw, where="p.toml", profile="p")


def test_defaults_are_the_quick_profile_defaults():
    assert load_profile("quick").baselines == RunConfig().baselines


def test_lightgcn_and_sasrec_are_opt_in_base_models():
    from recranker_core.config import BASELINE_MODELS

    assert "lightgcn" not in BASELINE_MODELS and "sasrec" not in BASELINE_MODELS  # not fitted by default
    raw = {
        "baselines": {"models": ["popular", "biasedmf", "lightgcn", "sasrec"], "primary": "sasrec", "embedding_model": "lightgcn"},
        "prompts": {"hint_models": ["sasrec", "lightgcn"]},
    }
    config = config_from_dict(raw, where="p.toml", profile="p")
    assert config.baselines.primary == "sasrec" and config.baselines.embedding_model == "lightgcn"
    with pytest.raises(InputError, match="embedding_model = 'popular' has no user embeddings"):
        config_from_dict({"baselines": {**raw["baselines"], "embedding_model": "popular"}}, where="p.toml", profile="p")
