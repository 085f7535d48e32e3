"""A plan's training or validation examples, with answers: pointwise (the like, and the dislike),
pairwise and listwise."""

from __future__ import annotations

from recranker_core.instructions.phase import Context, Phase
from recranker_core.instructions.plans import Plan
from recranker_core.prompts.builder import PromptBuilder, plain
from recranker_core.prompts.shift import permutation, swapped
from recranker_core.seeds import rng_for


def plan_examples(
    context: Context, phase: Phase, builder: PromptBuilder, plan: Plan, split: str
) -> list[dict]:
    """A plan's pointwise (like, and dislike), pairwise and listwise examples, with answers."""
    prompts, scale = context.prompts, context.split.rating_scale()
    rng = rng_for(context.seed, f"{split}-shift", plan.index)
    head = {"split": split, "user_id": plain(plan.user), "draw": plan.draw, "negatives": prompts.negatives}
    like_variant = "held-out like" if split == "train" else "validation like"
    out = []
    for held, variant in ((plan.like, like_variant), (plan.dislike, "held-out dislike")):
        if held is not None:
            out.append(
                builder.pointwise(
                    head | {"variant": variant},
                    context.history(plan.user, held.seq, rng, plan.hidden),
                    held.item,
                    rng,
                    rating_hint=phase.rating_hint(prompts, plan.user, held.item),
                    answer=_clip(held.rating, scale),
                )
            )
    at_like = context.history(plan.user, plan.like.seq, rng, plan.hidden)
    for negative in plan.negatives:
        pair = (plan.like.item, negative)
        out.append(
            builder.pairwise(
                head
                | {
                    "variant": "vs dislike"
                    if plan.dislike and negative == plan.dislike.item
                    else "vs negative"
                },
                at_like,
                pair,
                swapped(rng, prompts.swap_probability, prompts.shift),
                scores=phase.pair_scores(prompts, plan.user, pair),
                positive=plan.like.item,
            )
        )
    if plan.positives:
        ordered = phase.base_order(plan.user, list(plan.listed))
        best = sorted(plan.positives, key=lambda h: (-h.rating, ordered.index(h.item)))
        ranking = [h.item for h in best] + [i for i in ordered if i not in {h.item for h in best}]
        variant = like_variant if len(best) == 1 else f"{len(best)} held-out likes"
        out.append(
            builder.listwise(
                head | {"variant": variant},
                at_like,
                ordered,
                permutation(len(ordered), rng, prompts.shift),
                scores=phase.list_scores(prompts, plan.user, ordered),
                ranking=ranking,
            )
        )
    return out


def _clip(rating: float, scale: tuple[int, int]) -> int:
    return int(min(max(round(float(rating)), scale[0]), scale[1]))
