"""SASRec (Kang & McAuley, ICDM 2018) as a lenskit scorer, in torch.

Causal self-attention over each user's time-ordered training likes (the last ``max_len``), trained
to predict the next item at every position against one random item (binary cross-entropy), with
item embeddings shared between input and output. A user's vector is the last position's output
over their whole training sequence; an item's score is its dot product with that vector.
"""

from __future__ import annotations

import numpy as np
from lenskit.data import Dataset
from lenskit.logging import get_logger

from recranker_core.baselines.embedding_scorer import EmbeddingScorer
from recranker_core.baselines.settings import SASRecConfig

_log = get_logger(__name__)


def _network(n_items: int, cfg: SASRecConfig):
    import torch
    from torch import nn

    class SASRec(nn.Module):
        def __init__(self):
            super().__init__()
            self.items = nn.Embedding(n_items + 1, cfg.embedding_size, padding_idx=0)  # 0 = padding
            self.positions = nn.Embedding(cfg.max_len, cfg.embedding_size)
            self.dropout = nn.Dropout(cfg.dropout)
            layer = nn.TransformerEncoderLayer(
                cfg.embedding_size,
                cfg.heads,
                dim_feedforward=cfg.embedding_size,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.blocks = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.embedding_size)
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(cfg.max_len))

        def forward(self, sequences):
            x = self.items(sequences) * cfg.embedding_size**0.5 + self.positions.weight
            x = self.dropout(x) * (sequences > 0).unsqueeze(-1)
            return self.norm(self.blocks(x, mask=self.causal, is_causal=True))

    model = SASRec()
    # Xavier-normal weights, as the reference implementations use: with torch's default N(0, 1)
    # embeddings the first logits are huge and 30 epochs barely move the model.
    for parameter in model.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_normal_(parameter)
    with torch.no_grad():
        model.items.weight[0].zero_()
    return model


class SASRecScorer(EmbeddingScorer):
    config: SASRecConfig

    def fit_vectors(self, data: Dataset, table, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        import torch

        cfg = self.config
        sequences = _sequences(table, data.user_count, cfg.max_len + 1)  # item numbers + 1, left-padded
        model = _network(data.item_count, cfg)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.98))
        trainable = torch.from_numpy(sequences[(sequences > 0).sum(axis=1) >= 2])
        model.train()
        for epoch in range(cfg.epochs):
            order = torch.from_numpy(rng.permutation(len(trainable)))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                batch = trainable[order[start : start + cfg.batch_size]]
                inputs, targets = batch[:, :-1], batch[:, 1:]
                negatives = torch.from_numpy(rng.integers(1, data.item_count + 1, size=tuple(targets.shape)))
                hidden = model(inputs)
                pos = (hidden * model.items(targets)).sum(-1)
                neg = (hidden * model.items(negatives)).sum(-1)
                mask = targets > 0
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    torch.cat([pos[mask], neg[mask]]),
                    torch.cat([torch.ones(int(mask.sum())), torch.zeros(int(mask.sum()))]),
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            _log.debug("sasrec epoch", epoch=epoch, loss=total / len(trainable))
        model.eval()
        with torch.no_grad():
            states = model(torch.from_numpy(sequences[:, 1:]))[:, -1]
        return states.numpy(), model.items.weight[1:].detach().numpy()


def _sequences(table, n_users: int, length: int) -> np.ndarray:
    """(users, length) item numbers + 1 in time order, most recent last, left-padded with 0."""
    order = ["user_num", "timestamp"] if "timestamp" in table else ["user_num"]
    table = table.sort_values(order, kind="stable")
    out = np.zeros((n_users, length), dtype=np.int64)
    for user, items in table.groupby("user_num")["item_num"]:
        recent = items.to_numpy()[-length:] + 1
        out[user, length - len(recent) :] = recent
    return out
