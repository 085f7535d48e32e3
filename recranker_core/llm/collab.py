"""Collaborative tokens (the CoLLM / LLaRA idea): the base model's user and item vectors as prompt tokens.

Prompts built with ``prompts.collab_tokens`` hold ``markers.MARKER`` once for the user and after each
asked-about title. Before the LLM reads a prompt, :meth:`CollabTokens.mark` turns each marker's token id
into a negative id naming a row of the run's vector table (the vectors of the prompt's phase). Hooks on
the model's input embeddings then put the projector's output for that row where the marker stands, so
training, every scoring path (the shared-prefix cache included) and generation read the vectors with
no change of their own, and a user's shared prefix still compares as token ids.

The projector (two layers) starts with its last layer at zero, so the untuned model reads zero vectors at
the markers; it is trained with the LoRA adapter and saved beside it as ``collab.safetensors``.
Zero-shot scoring (:func:`untuned`) switches both off: the model as training found it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recranker_core.errors import InputError
from recranker_core.prompts import markers

FILE = "collab.safetensors"
_ATTRIBUTE = "collab_tokens"


@dataclass(frozen=True)
class Vectors:
    """The vectors a run's markers name, as one matrix."""

    rows: dict[tuple[str, str, str], int]
    """(phase, kind, id as text) -> row of ``matrix``."""
    matrix: np.ndarray
    """float32; row 0 is the zero vector of a user or item the base model learnt nothing of."""

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Vectors:
        """From the instructions stage's table: phase, kind, id, vector."""
        keys = zip(table["phase"], table["kind"], table["id"].astype(str))
        stacked = np.stack(table["vector"].to_numpy()).astype(np.float32)
        matrix = np.vstack([np.zeros((1, stacked.shape[1]), np.float32), stacked])
        return cls({key: row for row, key in enumerate(keys, start=1)}, matrix)


class CollabTokens(torch.nn.Module):
    """The projector, the vector table and the hooks that put projected vectors at the markers."""

    def __init__(self, vectors: Vectors, width: int, marker: int):
        super().__init__()
        size = vectors.matrix.shape[1]
        self.projector = torch.nn.Sequential(
            torch.nn.Linear(size, width), torch.nn.GELU(), torch.nn.Linear(width, width)
        )
        torch.nn.init.zeros_(self.projector[2].weight)
        torch.nn.init.zeros_(self.projector[2].bias)
        self.register_buffer("table", torch.from_numpy(vectors.matrix), persistent=False)
        self.rows = vectors.rows
        self.marker = marker
        self.enabled = True
        """False: zero vectors, as before training (zero-shot scoring)."""
        self._pending = None

    def mark(self, ids: list[int], meta: dict) -> list[int]:
        """The prompt's token ids with each marker replaced by -1 - (its vector's row)."""
        phase = markers.phase(meta["split"])
        named = [-1 - self.rows.get((phase, kind, key), 0) for kind, key in markers.entities(meta)]
        at = [i for i, token in enumerate(ids) if token == self.marker]
        if len(at) != len(named):
            raise InputError(
                f"a {meta['task']} prompt of user {meta['user_id']} holds {len(at)} collaborative tokens "
                f"for {len(named)} user and items"
            )
        out = list(ids)
        for i, value in zip(at, named):
            out[i] = value
        return out

    def _before(self, module, args):
        ids = args[0]
        negative = ids < 0
        self._pending = (negative, -1 - ids[negative]) if bool(negative.any()) else None
        return (ids.clamp(min=0), *args[1:])

    def _after(self, module, args, output):
        if self._pending is None:
            return output
        where, rows = self._pending
        self._pending = None
        if self.enabled:
            vectors = self.projector(self.table[rows]).to(output.dtype)
        else:
            vectors = output.new_zeros((len(rows), output.shape[-1]))
        return output.masked_scatter(where.unsqueeze(-1), vectors)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.projector.state_dict().items()}, str(folder / FILE))

    def load(self, path: Path) -> None:
        from safetensors.torch import load_file

        try:
            self.projector.load_state_dict(load_file(str(path), device=str(self.table.device)))
        except RuntimeError as exc:
            raise InputError(f"{path}: does not fit this model and its vectors ({exc})") from None


def attach(model, vectors: Vectors, tokenizer, weights: Path | None = None) -> CollabTokens:
    """Give ``model`` (a causal LM, or a peft model around one) collaborative tokens: a projector (trainable,
    or read from ``weights``) registered on it, and the hooks on its input embeddings."""
    causal = _causal(model)
    embedding = causal.get_input_embeddings()
    module = CollabTokens(vectors, embedding.embedding_dim, marker_id(tokenizer))
    module.to(embedding.weight.device)
    if weights is not None:
        module.load(weights)
    setattr(causal, _ATTRIBUTE, module)
    embedding.register_forward_pre_hook(module._before)
    embedding.register_forward_hook(module._after)
    return module


def of(model) -> CollabTokens | None:
    """The model's collaborative tokens, if it has them."""
    return getattr(_causal(model), _ATTRIBUTE, None)


def marked(model, tokenizer, ids: list[int], meta: dict) -> list[int]:
    """A prompt's token ids as ``model`` reads them (markers named, see :meth:`CollabTokens.mark`)."""
    module = of(model)
    if module is not None:
        return module.mark(ids, meta)
    if marker_id(tokenizer) in ids:
        raise InputError(
            "these prompts carry collaborative tokens (prompts.collab_tokens) but the model has no "
            "projector for them; score them with the run's tuned model"
        )
    return ids


def marker_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids(markers.MARKER)


@contextlib.contextmanager
def untuned(model):
    """The model as training found it: its adapter switched off, and zero vectors at the markers."""
    module = of(model)
    with model.disable_adapter():
        if module is None:
            yield
            return
        module.enabled = False
        try:
            yield
        finally:
            module.enabled = True


def _causal(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model
