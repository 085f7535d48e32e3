"""Label scoring on the tiny model: the prefix cache changes nothing but speed."""

from __future__ import annotations

import numpy as np
import pytest

from recranker_core.errors import InputError
from recranker_core.llm.models import load, resolve_model
from recranker_core.llm.rerank import task_labels
from recranker_core.llm.scoring import LabelScorer, TokenCount, label_tokens, prompt_ids, similar_lengths
from recranker_core.prompts import templates


@pytest.fixture(scope="module")
def tiny():
    return load(resolve_model("tiny"))


def messages(question: str, liked: str = '"Heat (1995)", "Fargo (1996)"') -> list[dict]:
    return [
        {"role": "system", "content": templates.SYSTEM.format(domain="movie")},
        {"role": "user", "content": templates.history([liked], [], "movie") + "\n\n" + question},
    ]


def user_prompts():
    prompts = [messages(templates.pointwise(f'"Movie {i}"', "movie", 1, 5)) for i in range(7)]
    prompts += [messages(templates.pairwise('"A (1990)"', f'"B {i}"', "movie")) for i in range(4)]
    prompts += [
        messages(templates.listwise([f'"C{j}"' for j in range(10)][::step], "movie", 5)) for step in (1, -1)
    ]
    tasks = ["pointwise"] * 7 + ["pairwise"] * 4 + ["listwise"] * 2
    return prompts, tasks


def scoring_inputs(tokenizer) -> tuple[list[list[int]], list[tuple[int, ...]]]:
    """One user's prompts of every task, each with its label prefix, and each one's label tokens."""
    prompts, tasks = user_prompts()
    labels = {
        t: label_tokens(tokenizer, prompts[tasks.index(t)], task_labels(t, 10, (1, 5))) for t in set(tasks)
    }
    sequences = [prompt_ids(tokenizer, p) + list(labels[t].prefix) for p, t in zip(prompts, tasks)]
    return sequences, [labels[t].ids for t in tasks]


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_cached_scores_equal_uncached(tiny, batch_size):
    model, tokenizer = tiny
    sequences, ids = scoring_inputs(tokenizer)
    cached_count, plain_count = TokenCount(), TokenCount()
    cached = LabelScorer(model, batch_size=batch_size, prefix_cache=True, counter=cached_count).score(
        sequences, ids
    )
    plain = LabelScorer(model, prefix_cache=False, counter=plain_count).score(sequences, ids)
    for a, b in zip(cached, plain):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
        assert a.sum() == pytest.approx(1.0)
    assert cached_count.prompt_tokens < plain_count.prompt_tokens


def test_label_tokens_share_the_parenthesis_and_differ_by_one_token(tiny):
    _, tokenizer = tiny
    prompt = messages("Rank them.")
    listwise = label_tokens(tokenizer, prompt, templates.LABELS[:10])
    assert len(set(listwise.ids)) == 10 and tokenizer.decode(list(listwise.prefix)) == "("
    yes_no = label_tokens(tokenizer, prompt, (templates.YES, templates.NO))
    assert yes_no.prefix == () and len(set(yes_no.ids)) == 2


def test_labels_that_cannot_be_told_apart_are_refused(tiny):
    _, tokenizer = tiny
    with pytest.raises(InputError, match="cannot tell the answers"):
        label_tokens(tokenizer, messages("?"), ("Yes", "Yes"))


def test_a_ten_point_scale_branches_after_the_shared_first_digit(tiny):
    """1 and 10 start with the same token: the label set gets a second step after "1", where the answer
    either ends (the template's end of turn) or goes on with "0"."""
    _, tokenizer = tiny
    labels = label_tokens(tokenizer, messages("?"), task_labels("pointwise", 0, (1, 10)))
    assert len(labels.steps) == 2 and len(labels.ids) == 9
    (path, choices) = labels.steps[1]
    assert tokenizer.decode(list(path)) == "1"
    assert sorted(tokenizer.decode([c]) for c in choices) == ["0", "<|im_end|>"]
    assert [len(route) for route in labels.routes] == [2] + [1] * 8 + [2]


def test_multi_token_ratings_are_scored_as_the_product_of_their_choices(tiny):
    """On a 1-10 scale each rating's probability is, from full forward passes, its first token's share among
    the first tokens times (for 1 and 10) its share between ending the answer and going on with "0"; the
    ten sum to 1, and one-token scales are read in one step as before."""
    import torch

    from recranker_core.llm.rerank import score_prompts

    model, tokenizer = tiny
    chat = messages(templates.pointwise('"Heat (1995)"', "movie", 1, 10))
    meta = {"split": "test", "user_id": 1, "task": "pointwise", "variant": 0, "items": [7]}
    row = score_prompts(model, tokenizer, [{"messages": chat, "meta": meta}], mode="logits", scale=(1, 10))
    probs = np.array(row["probs"][0])
    labels = label_tokens(tokenizer, chat, task_labels("pointwise", 1, (1, 10)))
    prompt = prompt_ids(tokenizer, chat)

    def shares(ids, choices):
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        return torch.softmax(logits[list(choices)].double(), 0).numpy()

    root, one = (
        shares(prompt, labels.steps[0][1]),
        shares(prompt + list(labels.steps[1][0]), labels.steps[1][1]),
    )
    expected = [np.prod([(root, one)[s][c] for s, c in route]) for route in labels.routes]
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(probs - expected).max() < 1e-5
    assert len(label_tokens(tokenizer, chat, task_labels("pointwise", 1, (1, 5))).steps) == 1


def test_only_the_label_rows_of_the_output_matrix_are_computed(tiny, monkeypatch):
    """The probabilities equal a softmax over the full vocabulary's logits at the labels, yet the full
    projection (lm_head over every token) is never run: Gemma's vocabulary has 262,144 tokens."""
    import torch

    model, tokenizer = tiny
    sequences, ids = scoring_inputs(tokenizer)
    with torch.inference_mode():
        full = [model(input_ids=torch.tensor([s])).logits[0, -1] for s in sequences]
    expected = [torch.softmax(row[list(i)], -1).numpy() for row, i in zip(full, ids)]

    def refuse(*args, **kwargs):
        raise AssertionError("the whole vocabulary was projected")

    monkeypatch.setattr(model.lm_head, "forward", refuse)
    for cache in (True, False):
        scored = LabelScorer(model, prefix_cache=cache).score(sequences, ids)
        for a, b in zip(scored, expected):
            assert np.abs(a - b).max() < 1e-5


def test_variants_reuse_the_first_prompts_encoding_and_score_as_alone(tiny):
    """A prompt and its leave-one-out variants (each departs from it at another history item, or only at
    the end): the same probabilities as scoring each alone, from fewer tokens."""
    model, tokenizer = tiny
    question = templates.listwise([f'"C{j}"' for j in range(10)], "movie", 5)
    titles = ['"Heat (1995)"', '"Fargo (1996)"', '"Alien (1979)"']
    prompts = [messages(question, ", ".join(titles))]
    prompts += [messages(question, ", ".join(t for t in titles if t != left)) for left in titles]
    prompts.append(
        messages(question + "\nHint: ImplicitMF ranks (A) (B) (C) (D) (E) highest.", ", ".join(titles))
    )
    labels = label_tokens(tokenizer, prompts[0], task_labels("listwise", 10))
    sequences = [prompt_ids(tokenizer, p) + list(labels.prefix) for p in prompts]
    ids = [labels.ids] * len(sequences)
    variants, plain = TokenCount(), TokenCount()
    fast = LabelScorer(model, counter=variants).score_variants(sequences, ids)
    alone = [LabelScorer(model, counter=plain).score([s], [i])[0] for s, i in zip(sequences, ids)]
    for a, b in zip(fast, alone, strict=True):
        assert np.abs(a - b).max() < 1e-4 and a.sum() == pytest.approx(1.0)
    assert len({tuple(np.round(p, 4)) for p in fast}) == len(prompts)  # the variants do differ
    assert variants.prompt_tokens < 0.8 * plain.prompt_tokens


def test_continuations_are_batched_with_others_of_similar_length():
    """Pairwise continuations (about 55 tokens) are not padded to a listwise one's length (about 210)."""
    lengths = [50, 52, 55, 60, 74, 200, 210]
    assert similar_lengths(lengths, 16) == [(0, 5), (5, 7)]
    assert similar_lengths(lengths, 2) == [(0, 2), (2, 4), (4, 5), (5, 7)]
    assert similar_lengths([], 4) == [] and similar_lengths([9], 4) == [(0, 1)]


def several_users(tokenizer) -> tuple[list, list, list]:
    """Three users' prompts (histories of different lengths), each with its label prefix, their label
    tokens and their group keys (user)."""
    sequences, ids, groups = [], [], []
    for user, liked in enumerate(['"Heat (1995)"', '"Heat (1995)", "Fargo (1996)"', '"Alien (1979)", ' * 6]):
        prompts, tasks = user_prompts()
        for prompt, task in zip(prompts, tasks):
            prompt[1]["content"] = prompt[1]["content"].replace('"Heat (1995)", "Fargo (1996)"', liked)
            labels = label_tokens(tokenizer, prompt, task_labels(task, 10, (1, 5)))
            sequences.append(prompt_ids(tokenizer, prompt) + list(labels.prefix))
            ids.append(labels.ids)
            groups.append(user)
    return sequences, ids, groups


@pytest.mark.parametrize("budget", [64, 400, 100_000])
def test_users_scored_together_score_as_each_prompt_alone(tiny, budget):
    """The scheduler packs several users' prompts into one pass (prefixes of other lengths padded, each
    row reading its own user's cache rows): the same probabilities as each prompt alone, uncached, in
    float32, whatever the token budget."""
    model, tokenizer = tiny
    sequences, ids, groups = several_users(tokenizer)
    counter = TokenCount()
    together = LabelScorer(model, batch_tokens=budget, counter=counter).score(sequences, ids, groups)
    alone = [LabelScorer(model, prefix_cache=False).score([s], [i])[0] for s, i in zip(sequences, ids)]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    assert counter.prompt_tokens < sum(map(len, sequences))  # each user's prefix encoded once
    assert counter.computed_tokens >= counter.prompt_tokens
    if budget == 100_000:  # fewer passes than user by user: continuations of several users share them
        apart = TokenCount()
        for user in set(groups):
            mine = [k for k, g in enumerate(groups) if g == user]
            LabelScorer(model, counter=apart).score([sequences[k] for k in mine], [ids[k] for k in mine])
        assert counter.forward_calls < apart.forward_calls


def test_batches_keep_within_the_token_budget():
    lengths = [10, 10, 10, 10, 12]
    assert similar_lengths(lengths, 64, tokens=40) == [(0, 4), (4, 5)]
    assert similar_lengths(lengths, 64, tokens=40, base=10) == [(0, 2), (2, 4), (4, 5)]
    assert similar_lengths([500], 64, tokens=40) == [(0, 1)]  # a row longer than the budget goes alone
