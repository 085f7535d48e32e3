"""Instruction data for the three tasks, and the rerank prompts.

Three phases, each with hint models fitted only on what that phase may know:

* train (one set of examples per sampled draw): every eligible user's last training like ``h`` (and
  last training dislike ``d``, if any; with ``listwise_positives = "paper"`` also three top-rated and
  two next-rated likes) is held out; the "moment" models are fitted on the training rows without
  them, and prompts show only training rows before ``h``, never a held-out item. Pointwise asks for
  the rating of ``h`` and of ``d``; pairwise sets ``h`` against ``d`` and against negatives;
  listwise shows ten items holding ``h`` (or the five likes among five negatives).
* valid (one set per sampled user): the same with the validation like as target, all training
  rows as history, and models fitted on all training rows.
* rerank (``test``, and ``valid-rerank`` whose scores tune the hybrid): for each user whose target
  is among the primary model's candidates, pointwise for each candidate, pairwise for pairs from
  random perfect matchings of the candidates in both orders, listwise for the list in base order
  and K - 1 shuffles. One history per user (a seeded draw, shuffled once) is shared by all of its
  prompts, so they share a prefix the scorer encodes once. Nothing in these prompts depends on which
  candidate is the target.

Modules: ``build`` (putting it together), ``holdout``, ``plans`` (with the negatives), ``examples``,
``rerank``, ``phase`` (hint models) and ``lists``. This face only re-exports.
"""

from recranker_core.instructions.build import InstructionSet, build_instructions
from recranker_core.instructions.holdout import eligible_users, held_out, moment_rows
from recranker_core.instructions.lists import LIST_SIZE, around, list_shape, matched_pairs

__all__ = [
    "LIST_SIZE",
    "InstructionSet",
    "around",
    "build_instructions",
    "eligible_users",
    "held_out",
    "list_shape",
    "matched_pairs",
    "moment_rows",
]
