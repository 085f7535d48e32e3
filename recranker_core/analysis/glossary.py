"""One vocabulary: what every method family and metric the dashboard and the report show means, in one
place (help texts, the glossary on the Runs page, and docs/dashboard.md's section, which a test keeps
the same)."""

from __future__ import annotations

METHODS = {
    "base:<model>": "A conventional recommender's own top 10 (ImplicitMF, BPR, EASE, ...). "
    "The reference is the one whose 10 candidates the LLM reranks.",
    "pointwise": "The tuned LLM alone, rating each candidate: ranked by the expected rating.",
    "pairwise": "The tuned LLM alone, asked which of two candidates the user prefers, in both orders: "
    "ranked by the mean probability of being preferred.",
    "listwise": "The tuned LLM alone, asked to rank the labelled candidates: ranked by each label's "
    "probability, averaged over shuffled copies of the list.",
    "+prior": "As the official code scores: the most likely answer, with the base model's rank as a prior.",
    "hybrid": "The paper's weighted sum of the three tasks' answers and the base rank (its fixed weights).",
    "hybrid-tuned": "The same sum with weights chosen on validation users.",
    "fusion": "The base model's score plus each task's LLM score, with weights chosen on validation users "
    "(all weights 0 gives the base ranking back).",
    "zeroshot:<method>": "The same method scored by the untuned model: what instruction tuning adds.",
    "control:hints": "Fusion of the hint models' scores the prompts showed, with no LLM: an LLM method that "
    "beats the base but not this control only passed on its hints.",
    "judged": "The LLM method with the best validation NDCG@3, chosen before any test number was read: "
    "the one the verdict judges.",
}
"""Method families, as their names appear in metrics.json."""

METRICS = {
    "HR@k": "Hit rate: the share of test users whose held-out item is in the top k.",
    "NDCG@k": "Normalised discounted cumulative gain: 1 / log2(rank + 1) when the held-out item is in the "
    "top k, else 0, averaged over test users.",
    "coverage (accuracy table)": "The share of test users whose held-out item is anywhere in the list.",
    "coverage@k": "Distinct items in the method's top-k lists over the items in the catalogue.",
    "arp@k": "Average recommendation popularity: the mean popularity (share of users who rated an item in "
    "training) of the top k.",
    "tail@k": "The share of listed items outside the 20% most popular items.",
    "novelty@k": "The mean -log2 popularity of the listed items: higher is less familiar.",
    "ild@k": "Intra-list diversity: the mean genre (Jaccard) distance between two listed items.",
    "miscalibration@k": "Steck's KL divergence of the user's training genres from the list's: 0 when the "
    "list mirrors the user's taste.",
    "paired difference": "A method minus the reference on the same users, with a 95% bootstrap interval "
    "over the same resamples; 'better' or 'worse' only when the interval excludes 0.",
}
"""Metrics and the statistics around them."""


def help_for(column: str) -> str | None:
    """The glossary text of a metric column (``NDCG@3``, ``arp@5``, ``Δ tail@5``), if it has one."""
    name = column.removeprefix("Δ ").split("@")[0]
    return METRICS.get(f"{name}@k")


def markdown() -> str:
    """The whole glossary as a markdown list (the Runs page's and docs/dashboard.md's)."""
    return "\n".join(f"- **{term}**: {text}" for term, text in (METHODS | METRICS).items())
