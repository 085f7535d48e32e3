"""The settings of our torch recommenders: their lenskit component configs, light enough (pydantic
only) for the run configuration to hold them as `[baselines.lightgcn]` and `[baselines.sasrec]`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Positive = Annotated[int, Field(ge=1)]
MODEL = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)
"""As every section of the run config: exact types, no unknown fields, finite numbers only."""


class LightGCNConfig(BaseModel):
    model_config = MODEL

    embedding_size: Positive = 64
    """Dimension of the user and item embeddings."""
    layers: Positive = 2
    """Propagation layers."""
    epochs: Positive = 200
    """Most passes over the training likes (early stopping usually ends sooner)."""
    batch_size: Positive = 2048
    """BPR triples per step."""
    learning_rate: Annotated[float, Field(gt=0)] = 1e-2
    """Adam learning rate (the authors' 1e-3 needs about 250 epochs on ML-100K to get as far)."""
    regularization: Annotated[float, Field(ge=0)] = 1e-4
    """L2 weight on the batch's layer-0 embeddings."""
    eval_every: Positive = 5
    """Epochs between held-out evaluations (and after the last epoch)."""
    patience: Positive = 25
    """Epochs without a better held-out NDCG@10 before stopping."""


class SASRecConfig(BaseModel):
    model_config = MODEL

    embedding_size: Positive = 64
    """Dimension of item and position embeddings."""
    blocks: Positive = 2
    """Self-attention blocks."""
    heads: Positive = 1
    """Attention heads per block."""
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2
    """Dropout rate in the blocks and on the input."""
    max_len: Positive = 50
    """Most recent likes the model reads."""
    epochs: Positive = 30
    """Passes over the users' sequences."""
    batch_size: Positive = 128
    """Sequences per step."""
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    """Adam learning rate."""

    @model_validator(mode="after")
    def _heads_divide_the_embedding(self) -> SASRecConfig:
        if self.embedding_size % self.heads:
            raise ValueError("embedding_size should be a multiple of heads (each head reads an equal share)")
        return self
