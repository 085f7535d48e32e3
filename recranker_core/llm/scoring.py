"""Scoring prompts with a causal LM: label probabilities (with a shared-prefix KV cache) or generation.

Every answer the model may give is a *label*: a rating, "Yes." / "No.",
or a candidate label "(A)".."(J)". A label set is tokenized once in context:
the tokens all labels share (e.g. "(") are appended to each prompt, and the
next-token distribution at the end is read at each label's first distinct
token. The probabilities are renormalised over the labels.

Labels that one token cannot tell apart (ratings 1 and 10 both start with the
token "1") are told apart by the tokens after it: the label set is a tree of
*steps*, each a point where the answer branches, read at the end of the prompt
followed by the tokens before that point; the label "1" ends where "10" goes on,
so that branch is the end of the answer (the token the model was trained to write
after it). A label's probability is the product of its choices along the tree,
each renormalised among the choices of its step.

With ``prefix_cache``, a group of prompts (one user's) is tokenized, their
longest common token prefix is encoded once, and the remaining tokens of every
prompt are run in batches on copies of that KV cache. Only the labels' logits are
computed, at the one position that is read: the last hidden state times those
rows of the output matrix, never the whole vocabulary (262,144 tokens for Gemma 3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from recranker_core.errors import InputError


@dataclass(frozen=True)
class LabelTokens:
    labels: tuple[str, ...]
    prefix: tuple[int, ...]
    """Answer tokens every label starts with; appended to the prompt."""
    steps: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    """Where the answers branch: (the tokens after ``prefix`` that lead there, the tokens to choose among);
    the first step is right after ``prefix``."""
    routes: tuple[tuple[tuple[int, int], ...], ...]
    """Each label's choices, as (step, choice) pairs."""

    @property
    def ids(self) -> tuple[int, ...]:
        """The tokens chosen among at the first step: each label's first distinct token where one token
        tells every label apart."""
        return self.steps[0][1]

    def probabilities(self, steps: list[np.ndarray]) -> np.ndarray:
        """The labels' probabilities from each step's probabilities over its choices."""
        if len(self.steps) == 1:
            return steps[0]
        return np.array([np.prod([steps[s][c] for s, c in route]) for route in self.routes])


@dataclass
class TokenCount:
    """Tokens run through the model, for the inference benchmark."""

    prompt_tokens: int = 0
    """Real prompt tokens run through the model."""
    computed_tokens: int = 0
    """Tokens computed, padding included."""
    generated_tokens: int = 0
    forward_calls: int = 0


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the chat prompt up to (and including) the assistant header."""
    text = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def label_tokens(tokenizer, messages: list[dict], labels: tuple[str, ...]) -> LabelTokens:
    text = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    continuations = []
    for label in labels:
        ids = tokenizer(text + label, add_special_tokens=False)["input_ids"]
        if ids[: len(prompt)] != prompt:
            raise InputError(
                f"the tokenizer merges the answer '{label}' into the prompt; cannot score labels"
            )
        continuations.append(ids[len(prompt) :])
    if len(set(map(tuple, continuations))) != len(labels) or len(labels) < 2:
        raise InputError(f"the tokenizer cannot tell the answers {list(labels)} apart")
    if any(_starts(longer, c) for c in continuations for longer in continuations if len(longer) > len(c)):
        end = answer_end(tokenizer, messages, labels[0], len(prompt) + len(continuations[0]))
        continuations = [c + [end] for c in continuations]
    shared = _common_prefix(continuations)
    steps: list = []
    routes = _branch([c[shared:] for c in continuations], (), steps)
    return LabelTokens(
        labels=tuple(labels),
        prefix=tuple(continuations[0][:shared]),
        steps=tuple(steps),
        routes=tuple(routes[i] for i in range(len(labels))),
    )


def _branch(tails: list[list[int]], path: tuple[int, ...], steps: list) -> dict[int, tuple]:
    """Route of each of ``tails`` (labels' tokens after ``path``, which they all start with): the step
    added here for their next token, then, where one token leads to several labels, the steps below."""
    index = len(steps)
    choices = tuple(dict.fromkeys(t[len(path)] for t in tails))
    steps.append((path, choices))
    routes = {}
    for choice, token in enumerate(choices):
        members = [i for i, t in enumerate(tails) if t[len(path)] == token]
        below = _branch([tails[i] for i in members], (*path, token), steps) if len(members) > 1 else {0: ()}
        for k, i in enumerate(members):
            routes[i] = ((index, choice), *below[k])
    return routes


def _starts(sequence: list[int], prefix: list[int]) -> bool:
    return sequence[: len(prefix)] == prefix


def answer_end(tokenizer, messages: list[dict], label: str, after: int) -> int:
    """The token the chat template puts after an answer (its end-of-turn), which tells a label from a
    longer one it begins (1 from 10); the end-of-sequence token for a template that puts none."""
    answered = [*messages[:2], {"role": "assistant", "content": label}]
    ids = tokenizer(tokenizer.apply_chat_template(answered, tokenize=False), add_special_tokens=False)
    ids = ids["input_ids"]
    return ids[after] if len(ids) > after else tokenizer.eos_token_id


def _common_prefix(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for i in range(shortest):
        first = sequences[0][i]
        if any(s[i] != first for s in sequences):
            return i
    return shortest


class LabelScorer:
    """Label probabilities of many prompts at once: the one scoring scheduler of the rerank stage, Live
    rerank and What-if.

    Prompts that share a prefix (a *group*: one user's prompts that show the same history) have it encoded
    once. The prefixes are encoded in batches of similar length, right-padded, and every continuation of a
    prefix batch, across users, is scored in batches of similar length holding at most ``batch_size`` rows
    and ``batch_tokens`` tokens, each reading its prefix's rows of the KV cache (gathered once per batch,
    never copied per prompt). Only the labels' logits are computed, and the probabilities come off the
    device once per call."""

    def __init__(
        self,
        model,
        *,
        batch_size: int = 64,
        batch_tokens: int = 8192,
        prefix_cache: bool = True,
        counter: TokenCount | None = None,
    ):
        self.model = model
        self.causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.prefix_cache = prefix_cache
        self.counter = counter or TokenCount()
        self.window = sliding_window(self.causal.config)

    def score(
        self, sequences: list[list[int]], label_ids: list[tuple[int, ...]], groups: list | None = None
    ) -> list[np.ndarray]:
        """Per sequence (prompt + label prefix): probabilities over its labels, summing to 1. Sequences
        with the same ``groups`` key (default: all one group) share their common prefix's encoding."""
        keys = groups if groups is not None else [0] * len(sequences)
        members: dict = {}
        for index, key in enumerate(keys):
            members.setdefault(key, []).append(index)
        sources, rows = [], [None] * len(sequences)
        for indices in members.values():
            own = [sequences[i] for i in indices]
            shared = min(_common_prefix(own), min(len(s) for s in own) - 1)
            if not self.prefix_cache or len(indices) == 1 or shared < 1:
                for i in indices:
                    rows[i] = (-1, 0)
                continue
            sources.append(own[0][:shared])
            for i in indices:
                rows[i] = (len(sources) - 1, shared)
        return self._run(sequences, label_ids, sources, rows)

    def score_variants(
        self, sequences: list[list[int]], label_ids: list[tuple[int, ...]]
    ) -> list[np.ndarray]:
        """:meth:`score` for a sequence and its variants (``sequences[1:]``, e.g. the prompt without one
        history item): each variant reuses the first sequence's KV cache up to where it departs from it,
        which a group's one common prefix cannot do when every variant departs somewhere else."""
        first = sequences[0]
        if len(first) < 2 or (self.window is not None and len(first) >= self.window):
            return self.score(sequences, label_ids, groups=list(range(len(sequences))))
        # A variant's prefix is the first sequence's cache cut where it departs: a gap the mask hides.
        rows = [(0, min(_common_prefix([first, s]), len(s) - 1, len(first) - 1)) for s in sequences]
        return self._run(sequences, label_ids, [first[:-1]], rows)

    def _run(self, sequences, label_ids, sources: list[list[int]], rows: list[tuple[int, int]]):
        """Score every sequence i, whose first ``rows[i][1]`` tokens are those of ``sources[rows[i][0]]``
        (-1: none), encoding each source once."""
        import torch

        by_source: dict[int, list[int]] = {}
        for i, (source, _) in enumerate(rows):
            by_source.setdefault(source, []).append(i)
        probs: list = [None] * len(sequences)
        width = max((len(ids) for ids in label_ids), default=0)
        with torch.inference_mode():
            for batch, cache in self._prefix_batches(sources):
                local = {source: k for k, source in enumerate(batch)}
                mine = sorted(
                    (i for source in batch for i in by_source.get(source, [])),
                    key=lambda i: len(sequences[i]) - rows[i][1],
                )
                tails = [len(sequences[i]) - rows[i][1] for i in mine]
                base = cache.get_seq_length() if cache is not None else 0
                for start, end in similar_lengths(
                    tails, self.batch_size, tokens=self.batch_tokens, base=base
                ):
                    chunk = mine[start:end]
                    hidden = self._tails(
                        cache,
                        [local[rows[i][0]] for i in chunk],
                        [rows[i][1] for i in chunk],
                        [sequences[i][rows[i][1] :] for i in chunk],
                    )
                    for i, row in zip(chunk, self._label_probs(hidden, [label_ids[i] for i in chunk], width)):
                        probs[i] = row
            stacked = torch.stack(probs).cpu().numpy().astype(np.float64) if probs else []
        return [row[: len(ids)] for row, ids in zip(stacked, label_ids)]

    def _prefix_batches(self, sources: list[list[int]]):
        """(source indices, their KV cache) per batch of similar-length sources; first (-1,) without one
        for the sequences that have no prefix. Sources longer than a sliding window go alone, since padding
        would move what the window sees."""
        yield (-1,), None
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        lengths = [len(sources[i]) for i in order]
        for start, end in similar_lengths(lengths, self.batch_size, tokens=self.batch_tokens, spread=1.25):
            chunk = order[start:end]
            if self.window is not None and lengths[end - 1] + 1 >= self.window:
                for i in chunk:
                    yield (i,), self._encode([sources[i]])
            else:
                yield tuple(chunk), self._encode([sources[i] for i in chunk])

    def _encode(self, sources: list[list[int]]):
        """The KV cache of ``sources``, right-padded to the longest."""
        ids, mask = _padded(sources, self.device)
        out = self.causal.model(input_ids=ids, attention_mask=mask, use_cache=True)
        self._count(sum(map(len, sources)), ids.numel())
        return out.cache

    def _tails(self, cache, rows: list[int], prefixes: list[int], tails: list[list[int]]):
        """Last hidden state of each tail, read after the first ``prefixes[k]`` tokens of row ``rows[k]`` of
        ``cache`` (None: from the start)."""
        import torch

        ids, mask = _padded(tails, self.device)
        start = torch.tensor(prefixes, device=self.device).unsqueeze(1)
        positions = start + torch.arange(ids.shape[1], device=self.device)
        kwargs = {}
        if cache is not None:
            width = cache.get_seq_length()
            seen = torch.arange(width, device=self.device) < start
            mask = torch.cat([seen.long(), mask], dim=1)
            kwargs = {"cache": _gathered(cache, torch.tensor(rows, device=self.device))}
        hidden = self.causal.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=cache is not None, **kwargs
        ).last_hidden_state
        self._count(sum(map(len, tails)), ids.numel())
        last = torch.tensor([len(t) - 1 for t in tails], device=self.device)
        return hidden[torch.arange(len(tails), device=self.device), last]

    def _label_probs(self, hidden, label_ids: list[tuple[int, ...]], width: int):
        """Per row of ``hidden``: its labels' probabilities, padded with zeros to ``width``. Renormalised over
        the labels, so the softmax needs only their logits, never the vocabulary's."""
        import torch

        ids = torch.tensor([list(i) + [-1] * (width - len(i)) for i in label_ids], device=self.device)
        logits = label_logits(self.causal, hidden, ids.clamp(min=0))
        return torch.softmax(logits.masked_fill(ids < 0, float("-inf")), dim=-1)

    def _count(self, real: int, computed: int) -> None:
        self.counter.prompt_tokens += real
        self.counter.computed_tokens += computed
        self.counter.forward_calls += 1


def label_logits(causal, hidden, ids):
    """Logits of token ``ids[r, j]`` at hidden state ``hidden[r]`` (float32): the rows of the output matrix
    they need, with the model's bias and final soft-capping (Gemma)."""
    import torch

    head = causal.get_output_embeddings()
    logits = torch.einsum("rh,rlh->rl", hidden.float(), head.weight[ids].float())
    if getattr(head, "bias", None) is not None:
        logits = logits + head.bias[ids].float()
    cap = getattr(causal.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def sliding_window(config) -> int | None:
    """The model's sliding attention window if some of its layers have one (Gemma 3, Mistral), else None."""
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if not window or (types is not None and "sliding_attention" not in types):
        return None
    return int(window)


def _padded(rows: list[list[int]], device):
    """(ids, attention mask) of ``rows`` right-padded to the longest."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def _gathered(cache, rows):
    """A cache whose batch is ``cache``'s batch rows ``rows``: one gather per layer, ``cache`` unchanged."""
    out = copy.copy(cache)
    out.layers = []
    for layer in cache.layers:
        own = copy.copy(layer)
        own.keys, own.values = layer.keys[rows], layer.values[rows]
        out.layers.append(own)
    return out


def similar_lengths(
    lengths: list[int], size: int, spread: float = 1.5, tokens: int = 0, base: int = 0
) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of ``lengths`` (ascending) holding at most ``size`` each, whose
    longest is at most ``spread`` times its shortest and, with ``tokens``, whose rows times (``base`` +
    longest) stay within ``tokens`` (a batch holds one row at least): padding costs as much as a real token,
    and a user's listwise continuations are four times as long as their pairwise ones."""
    batches, start = [], 0
    for end, length in enumerate(lengths):
        over = tokens and (end - start + 1) * (base + length) > tokens
        if end > start and (end - start == size or length > spread * lengths[start] or over):
            batches.append((start, end))
            start = end
    return batches + [(start, len(lengths))] if lengths else batches


def generate(
    model, tokenizer, sequence: list[int], max_new_tokens: int, counter: TokenCount | None = None
) -> str:
    """Greedy continuation of one prompt (the paper's mode)."""
    import torch

    with torch.inference_mode():
        ids = torch.tensor([sequence], device=next(model.parameters()).device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = out[0, len(sequence) :]
    if counter is not None:
        counter.prompt_tokens += len(sequence)
        counter.generated_tokens += len(new)
        counter.forward_calls += len(new)
    return tokenizer.decode(new, skip_special_tokens=True)
