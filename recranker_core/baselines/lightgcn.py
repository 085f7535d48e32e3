"""LightGCN (He et al., SIGIR 2020) as a lenskit scorer, in torch.

Embeddings of users and items are propagated over the normalised user-item graph of the training
likes, D^-1/2 A D^-1/2, without feature transforms or non-linearities; the layers' outputs are
averaged. Trained with the BPR loss on (user, liked item, random item) triples and L2 on the
layer-0 embeddings of the batch. Each user's last training like is held out to stop early on
NDCG@10, checked every few epochs (one item per user is a noisy signal: fewer checks pick fewer
lucky epochs); the final vectors are propagated over the whole graph, held-out likes included.
"""

from __future__ import annotations

import numpy as np
from lenskit.data import Dataset
from lenskit.logging import get_logger

from recranker_core.baselines.embedding_scorer import EmbeddingScorer, holdout_ndcg
from recranker_core.baselines.settings import LightGCNConfig

_log = get_logger(__name__)


class LightGCNScorer(EmbeddingScorer):
    config: LightGCNConfig

    def fit_vectors(self, data: Dataset, table, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        import torch

        cfg = self.config
        users, items = table["user_num"].to_numpy(), table["item_num"].to_numpy()
        n_users, n_items = data.user_count, data.item_count
        held_out, train = _hold_out_last(table, n_users)

        full_graph = _normalised_graph(users, items, n_users, n_items)
        graph = _normalised_graph(users[train], items[train], n_users, n_items)
        seen = torch.sparse_coo_tensor(
            torch.from_numpy(np.vstack([users[train], items[train]])),
            torch.ones(int(train.sum())),
            (n_users, n_items),
            check_invariants=True,
        ).coalesce()
        weights = torch.nn.Parameter(torch.empty(n_users + n_items, cfg.embedding_size).normal_(std=0.1))
        optimizer = torch.optim.Adam([weights], lr=cfg.learning_rate)
        pairs_u, pairs_i = torch.from_numpy(users[train]), torch.from_numpy(items[train])

        best, best_state, best_epoch = -1.0, weights.detach().clone(), 0
        for epoch in range(1, cfg.epochs + 1):
            order = torch.from_numpy(rng.permutation(len(pairs_u)))
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                u, i = pairs_u[batch], pairs_i[batch]
                j = torch.from_numpy(rng.integers(0, n_items, size=len(batch)))
                final = _propagate(graph, weights, cfg.layers)
                user_vec, pos, neg = final[u], final[n_users + i], final[n_users + j]
                bpr = -torch.nn.functional.logsigmoid(
                    (user_vec * pos).sum(1) - (user_vec * neg).sum(1)
                ).mean()
                l2 = (
                    weights[u].pow(2).sum()
                    + weights[n_users + i].pow(2).sum()
                    + weights[n_users + j].pow(2).sum()
                ) / (2 * len(batch))
                loss = bpr + cfg.regularization * l2
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if epoch % cfg.eval_every and epoch < cfg.epochs:
                continue
            with torch.no_grad():
                final = _propagate(graph, weights, cfg.layers)
                ndcg = holdout_ndcg(final[:n_users], final[n_users:], seen, held_out)
            _log.debug("lightgcn epoch", epoch=epoch, loss=loss.item(), ndcg=ndcg)
            if ndcg > best:
                best, best_state, best_epoch = ndcg, weights.detach().clone(), epoch
            elif epoch - best_epoch >= cfg.patience:
                break
        self.epochs_trained_, self.best_epoch_, self.holdout_ndcg_ = epoch, best_epoch, best
        with torch.no_grad():
            final = _propagate(full_graph, best_state, cfg.layers)
        return final[:n_users].numpy(), final[n_users:].numpy()


def _hold_out_last(table, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out item number per user or -1, mask of the rows kept for training): each user's
    latest like is held out when the user has at least two."""
    order = table.sort_values(["user_num", "timestamp"], kind="stable") if "timestamp" in table else table
    last = order.groupby("user_num").tail(1)
    counts = table.groupby("user_num").size()
    last = last[last["user_num"].map(counts) >= 2]
    held_out = np.full(n_users, -1, dtype=np.int64)
    held_out[last["user_num"].to_numpy()] = last["item_num"].to_numpy()
    train = np.ones(len(table), dtype=bool)
    train[table.index.get_indexer(last.index)] = False
    return held_out, train


def _normalised_graph(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int):
    """D^-1/2 A D^-1/2 of the bipartite graph, as a torch sparse (U+I, U+I) matrix."""
    import torch

    rows = np.concatenate([users, n_users + items])
    cols = np.concatenate([n_users + items, users])
    degree = np.bincount(rows, minlength=n_users + n_items).astype(np.float64)
    values = 1.0 / np.sqrt(degree[rows] * degree[cols])
    size = n_users + n_items
    return torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([rows, cols])),
        torch.from_numpy(values.astype(np.float32)),
        (size, size),
        check_invariants=True,
    ).coalesce()


def _propagate(graph, weights, layers: int):
    import torch

    outputs = [weights]
    for _ in range(layers):
        outputs.append(torch.sparse.mm(graph, outputs[-1]))
    return torch.stack(outputs).mean(dim=0)
