"""Collaborative tokens on the tiny model: the projected vectors stand where the markers do, in every
scoring path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recranker_core.errors import InputError
from recranker_core.llm import collab
from recranker_core.llm.models import load, resolve_model
from recranker_core.llm.rerank import label_inputs
from recranker_core.llm.scoring import LabelScorer, generate, prompt_ids
from recranker_core.prompts import markers, templates

WIDTH = 6


def vectors(seed: int = 0) -> collab.Vectors:
    """Random vectors for users 1, 2 and items 10..14 in both phases."""
    rng = np.random.default_rng(seed)
    keys = [(phase, kind, key) for phase in ("train", "full") for kind, key in KEYS]
    return collab.Vectors.from_table(
        pd.DataFrame(
            {
                "phase": [k[0] for k in keys],
                "kind": [k[1] for k in keys],
                "id": [k[2] for k in keys],
                "vector": list(rng.normal(size=(len(keys), WIDTH)).astype(np.float32)),
            }
        )
    )


KEYS = [("user", "1"), ("user", "2"), *(("item", str(i)) for i in range(10, 15))]


def with_collab(seed: int = 0):
    """The tiny model with collaborative tokens whose projector is not at its zero start."""
    model, tokenizer = load(resolve_model("tiny"))
    module = collab.attach(model, vectors(seed), tokenizer)
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in module.projector.parameters():
            parameter.normal_(0, 0.5)
    return model, tokenizer, module


def prompt(task: str, items: list, split: str = "test", user: int = 1) -> dict:
    shown = [f'"Movie {i}" {markers.MARKER}' for i in items]
    question = {
        "pointwise": lambda: templates.pointwise(shown[0], "movie", 1, 5),
        "pairwise": lambda: templates.pairwise(shown[0], shown[1], "movie"),
        "listwise": lambda: templates.listwise(shown, "movie", 5),
    }[task]()
    history = templates.history(['"Heat (1995)"'], [], "movie", marked=True)
    messages = [
        {"role": "system", "content": templates.SYSTEM.format(domain="movie")},
        {"role": "user", "content": history + "\n\n" + question},
    ]
    return {"messages": messages, "meta": {"task": task, "split": split, "user_id": user, "items": items}}


def user_prompts(user: int = 1) -> list[dict]:
    return [
        *(prompt("pointwise", [i], user=user) for i in range(10, 14)),
        prompt("pairwise", [10, 11], user=user),
        prompt("pairwise", [11, 10], user=user),
        prompt("listwise", [10, 11, 12, 13, 14], user=user),
        prompt("listwise", [14, 13, 12, 11, 10], user=user),
    ]


def test_markers_are_one_token_each_and_name_their_phase_s_rows():
    _, tokenizer, module = with_collab()
    train, test = prompt("pairwise", [10, 99], split="train"), prompt("pairwise", [10, 99])
    ids = prompt_ids(tokenizer, test["messages"])
    assert ids.count(collab.marker_id(tokenizer)) == 3
    named = [token for token in module.mark(ids, test["meta"]) if token < 0]
    rows = vectors().rows
    assert named == [-1 - rows["full", "user", "1"], -1 - rows["full", "item", "10"], -1]  # 99: unknown
    in_training = [t for t in module.mark(prompt_ids(tokenizer, train["messages"]), train["meta"]) if t < 0]
    assert in_training[:2] == [-1 - rows["train", "user", "1"], -1 - rows["train", "item", "10"]]
    assert vectors().matrix[0].tolist() == [0.0] * WIDTH
    last = len(ids) - 1 - ids[::-1].index(module.marker)
    with pytest.raises(InputError, match="2 collaborative tokens for 3"):
        module.mark(ids[:last] + ids[last + 1 :], test["meta"])


def test_the_model_reads_the_projected_vector_at_each_marker():
    model, tokenizer, module = with_collab()
    example = prompt("listwise", [10, 11, 12])
    ids = module.mark(prompt_ids(tokenizer, example["messages"]), example["meta"])
    tensor = torch.tensor([ids])
    embedding = model.get_input_embeddings()
    with torch.inference_mode():
        read = model(input_ids=tensor).logits
        by_hand = embedding.weight[tensor.clamp(min=0)].clone()
        negative = tensor < 0
        by_hand[negative] = module.projector(module.table[-1 - tensor[negative]])
        assert torch.allclose(read, model(inputs_embeds=by_hand).logits, atol=1e-5)
        module.enabled = False
        by_hand[negative] = 0.0
        assert torch.allclose(model(input_ids=tensor).logits, model(inputs_embeds=by_hand).logits, atol=1e-5)
        module.enabled = True
        assert not torch.allclose(read, model(inputs_embeds=by_hand).logits, atol=1e-3)


def test_every_scoring_path_reads_the_same_vectors():
    model, tokenizer, _ = with_collab()
    mine = user_prompts()
    inputs = label_inputs(model, tokenizer, mine, (1, 5), {})
    sequences, ids = inputs.sequences, inputs.ids
    cached = LabelScorer(model, batch_size=3, prefix_cache=True).score(sequences, ids)
    plain = LabelScorer(model, prefix_cache=False).score(sequences, ids)
    variants = LabelScorer(model).score_variants(sequences, ids)
    for a, b, c in zip(cached, plain, variants):
        assert np.abs(a - b).max() < 1e-6 and np.abs(a - c).max() < 1e-6
    # Another user's vectors (the same text) change what the model reads, far beyond the paths' rounding
    # (the tiny random model's answers barely move with its input).
    theirs = label_inputs(model, tokenizer, user_prompts(2), (1, 5), {})
    other = LabelScorer(model, prefix_cache=False).score(theirs.sequences, theirs.ids)
    assert max(np.abs(a - b).max() for a, b in zip(plain, other)) > 2e-5


def test_a_model_without_a_projector_refuses_marked_prompts():
    model, tokenizer = load(resolve_model("tiny"))
    with pytest.raises(InputError, match="no projector"):
        label_inputs(model, tokenizer, user_prompts()[:1], (1, 5), {})


def test_a_fresh_projector_writes_zero_vectors():
    model, tokenizer = load(resolve_model("tiny"))
    module = collab.attach(model, vectors(), tokenizer)
    with torch.inference_mode():
        assert not module.projector(module.table).abs().any()


def test_generation_reads_the_vectors_too():
    model, tokenizer, module = with_collab()
    example = prompt("pointwise", [10])
    ids = module.mark(prompt_ids(tokenizer, example["messages"]), example["meta"])
    with torch.inference_mode():
        expected = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    assert generate(model, tokenizer, ids, 1) == tokenizer.decode([expected], skip_special_tokens=True)
