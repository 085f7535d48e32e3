"""Scoring prompts with a causal LM: label probabilities (with a shared-prefix KV cache) or generation.

Every answer the model may give is a *label*: a rating digit, "Yes." / "No.",
or a candidate label "(A)".."(J)". A label set is tokenized once in context:
the tokens all labels share (e.g. "(") are appended to each prompt, and the
next-token distribution at the end is read at each label's first distinct
token. The probabilities are renormalised over the labels.

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
    ids: tuple[int, ...]
    """Each label's first distinct token."""


@dataclass
class TokenCount:
    """Tokens run through the model, for the inference benchmark."""

    prompt_tokens: int = 0
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
    shared = _common_prefix(continuations)
    firsts = [c[shared] if len(c) > shared else None for c in continuations]
    if None in firsts or len(set(firsts)) != len(firsts):
        raise InputError(f"the tokenizer cannot tell the answers {list(labels)} apart by one token")
    return LabelTokens(labels=tuple(labels), prefix=tuple(continuations[0][:shared]), ids=tuple(firsts))


def _common_prefix(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for i in range(shortest):
        first = sequences[0][i]
        if any(s[i] != first for s in sequences):
            return i
    return shortest


class LabelScorer:
    """Label probabilities for groups of prompts (one group = one user's prompts)."""

    def __init__(
        self, model, *, batch_size: int = 16, prefix_cache: bool = True, counter: TokenCount | None = None
    ):
        self.model = model
        self.causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self.counter = counter or TokenCount()

    def score(self, sequences: list[list[int]], label_ids: list[tuple[int, ...]]) -> list[np.ndarray]:
        """Per sequence (prompt + label prefix): probabilities over its labels, summing to 1."""
        import torch

        with torch.inference_mode():
            if self.prefix_cache and len(sequences) > 1:
                hidden = self._cached(sequences)
            else:
                hidden = [self._last_hidden([s]) for s in sequences]
                hidden = torch.cat(hidden) if hidden else torch.empty(0)
            return self._probabilities(hidden, label_ids)

    def score_variants(
        self, sequences: list[list[int]], label_ids: list[tuple[int, ...]]
    ) -> list[np.ndarray]:
        """:meth:`score` for a sequence and its variants (``sequences[1:]``, e.g. the prompt without one
        history item): each variant reuses the first sequence's KV cache up to where it departs from it,
        which a group's one common prefix cannot do when every variant departs somewhere else."""
        import torch

        with torch.inference_mode():
            first = self.causal.model(
                input_ids=torch.tensor([sequences[0]], device=self.device), use_cache=True
            )
            self.counter.prompt_tokens += len(sequences[0])
            self.counter.forward_calls += 1
            states = [first.last_hidden_state[:, -1]]
            for sequence in sequences[1:]:
                shared = min(_common_prefix([sequences[0], sequence]), len(sequence) - 1)
                cache = copy.deepcopy(first.cache)
                cache.crop(shared - len(sequences[0]))
                hidden = self.causal.model(
                    input_ids=torch.tensor([sequence[shared:]], device=self.device),
                    position_ids=torch.arange(shared, len(sequence), device=self.device).unsqueeze(0),
                    cache=cache,
                    use_cache=True,
                ).last_hidden_state
                states.append(hidden[:, -1])
                self.counter.prompt_tokens += len(sequence) - shared
                self.counter.forward_calls += 1
            return self._probabilities(torch.cat(states), label_ids)

    def _probabilities(self, hidden, label_ids: list[tuple[int, ...]]) -> list[np.ndarray]:
        """Per row of ``hidden``: probabilities over its labels. Renormalised over the labels, so the softmax
        needs only their logits, not the vocabulary's; one product per label set (a user's prompts share a
        few), one copy off the device each."""
        import torch

        out: list[np.ndarray] = [np.empty(0)] * len(label_ids)
        for ids in dict.fromkeys(label_ids):
            rows = [i for i, own in enumerate(label_ids) if own == ids]
            probs = torch.softmax(self._label_logits(hidden[rows], ids), dim=-1).cpu().numpy()
            for i, p in zip(rows, probs.astype(np.float64)):
                out[i] = p
        return out

    def _label_logits(self, hidden, ids: tuple[int, ...]):
        import torch

        head = self.causal.get_output_embeddings()
        rows = torch.tensor(ids, device=hidden.device)
        bias = head.bias[rows].float() if getattr(head, "bias", None) is not None else None
        logits = torch.nn.functional.linear(hidden.float(), head.weight[rows].float(), bias)
        cap = getattr(self.causal.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    def _last_hidden(self, batch: list[list[int]]):
        import torch

        ids = torch.tensor(batch, device=self.device)
        hidden = self.causal.model(input_ids=ids).last_hidden_state
        self.counter.prompt_tokens += ids.numel()
        self.counter.forward_calls += 1
        return hidden[:, -1, :]

    def _cached(self, sequences: list[list[int]]):
        import torch

        shared = min(_common_prefix(sequences), min(len(s) for s in sequences) - 1)
        prefix = self.causal.model(
            input_ids=torch.tensor([sequences[0][:shared]], device=self.device), use_cache=True
        )
        self.counter.prompt_tokens += shared
        self.counter.forward_calls += 1
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        batches = similar_lengths([len(sequences[i]) - shared for i in order], self.batch_size)
        rows = []
        for start, end in batches:
            chunk = [sequences[i][shared:] for i in order[start:end]]
            width = max(len(c) for c in chunk)
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), shared + width), dtype=torch.long)
            mask[:, :shared] = 1
            for i, tail in enumerate(chunk):
                ids[i, : len(tail)] = torch.tensor(tail)
                mask[i, shared : shared + len(tail)] = 1
            cache = copy.deepcopy(prefix.cache)
            cache.batch_repeat_interleave(len(chunk))
            positions = torch.arange(shared, shared + width).unsqueeze(0).expand(len(chunk), -1)
            hidden = self.causal.model(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device),
                cache=cache,
                use_cache=True,
            ).last_hidden_state
            last = torch.tensor([len(c) - 1 for c in chunk], device=self.device)
            rows.append(hidden[torch.arange(len(chunk), device=self.device), last])
            self.counter.prompt_tokens += sum(len(c) for c in chunk)
            self.counter.forward_calls += 1
        states = torch.empty((len(sequences), rows[0].shape[-1]), dtype=rows[0].dtype, device=self.device)
        states[torch.tensor(order, device=self.device)] = torch.cat(rows)
        return states


def similar_lengths(lengths: list[int], size: int, spread: float = 1.5) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of ``lengths`` (ascending) holding at most ``size`` each, whose
    longest is at most ``spread`` times its shortest: padding costs as much as a real token, and a user's
    listwise continuations are four times as long as their pairwise ones."""
    batches, start = [], 0
    for end, length in enumerate(lengths):
        if end > start and (end - start == size or length > spread * lengths[start]):
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
