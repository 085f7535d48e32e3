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
    assert (
        config_from_dict({k: v for k, v in raw.items() if k != "profile"}, where="x", profile="smoke")
        == config
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"colour": {}}, "unknown field 'colour' (known: seed, seeds, data"),
        (
            {"prompts": {"histroy": "random"}},
            "unknown field 'prompts.histroy' (did you mean 'prompts.history'?)",
        ),
        ({"baselines": {"lightgcn": {"layer": 3}}}, "did you mean 'baselines.lightgcn.layers'?"),
        ({"baselines": {"models": "ease"}}, "baselines.models = 'ease': input should be a list"),
        (
            {"baselines": {"models": ["ease", "svd++"]}},
            "baselines.models.1 = 'svd++': input should be 'popular', 'implicitmf'",
        ),
        (
            {"baselines": {"primary": "bpr", "models": ["ease"]}},
            "baselines.primary = 'bpr' is not in baselines.models",
        ),
        (
            {"baselines": {"embedding_model": "ease"}},
            "baselines.embedding_model = 'ease': input should be 'implicitmf'",
        ),
        (
            {"baselines": {"lightgcn": {"layers": 0}}},
            "baselines.lightgcn.layers = 0: input should be greater than or equal to 1",
        ),
        ({"evaluation": {"ci_level": 1.5}}, "evaluation.ci_level = 1.5: input should be less than 1"),
        ({"data": {"min_likes": 2}}, "data.min_likes = 2: input should be greater than or equal to 3"),
        (
            {"data": {"like_threshold": 2.0, "dislike_threshold": 3.0}},
            "data.dislike_threshold = 3.0 is above data.like_threshold = 2.0",
        ),
        ({"seed": "x"}, "seed = 'x': input should be a valid integer"),
        ({"seeds": 0}, "seeds = 0: input should be greater than or equal to 1"),
        ({"llm": {"lora_r": "8"}}, "llm.lora_r = '8': input should be a valid integer"),
        ({"llm": {"full_finetune": 1}}, "llm.full_finetune = 1: input should be a valid boolean"),
        (
            {"rerank": {"hybrid_weights": [0.5, 0.05]}},
            "rerank.hybrid_weights.2 = [0.5, 0.05]: field required",
        ),
        ({"rerank": {"backend": "vllm"}}, "rerank.backend = 'vllm' needs rerank.mode = 'generate'"),
        ({"baselines": {"exclude": "future"}}, "baselines.exclude = 'future'"),
        ({"prompts": {"history": "oldest"}}, "prompts.history = 'oldest'"),
        ({"prompts": {"listwise_positives": "three"}}, "prompts.listwise_positives = 'three'"),
        (
            {"prompts": {"min_disliked": -1}},
            "prompts.min_disliked = -1: input should be greater than or equal to 0",
        ),
        (
            {"prompts": {"hint_models": ["bpr"]}, "baselines": {"models": ["implicitmf", "biasedmf"]}},
            "hint model 'bpr' is not in",
        ),
        (
            {"prompts": {"collab_tokens": True}, "llm": {"full_finetune": True}},
            "prompts.collab_tokens = true needs a LoRA adapter",
        ),
        (
            {"prompts": {"collab_tokens": True}, "rerank": {"backend": "vllm", "mode": "generate"}},
            "prompts.collab_tokens = true needs rerank.backend = 'transformers'",
        ),
    ],
)
def test_bad_values_are_named(raw, message):
    with pytest.raises(InputError) as error:
        config_from_dict(raw, where="p.toml", profile="p")
    assert str(error.value).startswith("p.toml: ") and message in str(error.value)


def test_defaults_are_the_quick_profile_defaults():
    assert load_profile("quick").baselines == RunConfig().baselines


def test_lightgcn_and_sasrec_are_opt_in_base_models():
    from recranker_core.config import BASELINE_MODELS

    assert "lightgcn" not in BASELINE_MODELS and "sasrec" not in BASELINE_MODELS  # not fitted by default
    raw = {
        "baselines": {
            "models": ["popular", "biasedmf", "lightgcn", "sasrec"],
            "primary": "sasrec",
            "embedding_model": "lightgcn",
        },
        "prompts": {"hint_models": ["sasrec", "lightgcn"]},
    }
    config = config_from_dict(raw, where="p.toml", profile="p")
    assert config.baselines.primary == "sasrec" and config.baselines.embedding_model == "lightgcn"
    with pytest.raises(
        InputError, match="embedding_model = 'popular': input should be 'implicitmf', 'biasedmf'"
    ):
        config_from_dict(
            {"baselines": {**raw["baselines"], "embedding_model": "popular"}}, where="p.toml", profile="p"
        )


def test_configs_recorded_by_earlier_versions_read_as_they_ran():
    from recranker_core.manifest import upgrade

    recorded = load_profile("smoke").to_dict()
    baselines = recorded["baselines"]
    del baselines["exclude"], baselines["lightgcn"], baselines["sasrec"]
    baselines.update(embedding_size=32, lightgcn_layers=3, lightgcn_learning_rate=1e-3, sasrec_max_len=20)
    config = config_from_dict(
        {k: v for k, v in upgrade(recorded).items() if k != "profile"}, where="m", profile="smoke"
    )
    assert config.baselines.exclude == "all-rated"  # candidates then left out every rated item
    assert config.baselines.lightgcn.layers == 3 and config.baselines.lightgcn.learning_rate == 1e-3
    # Shared then
    assert config.baselines.lightgcn.embedding_size == 32 == config.baselines.sasrec.embedding_size
    assert config.baselines.sasrec.max_len == 20 and config.baselines.sasrec.blocks == 2
