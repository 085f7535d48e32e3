"""What-if edits of a stored prompt's text, and leave-one-out attribution."""

from __future__ import annotations

import numpy as np
import pytest

from recranker_core.analysis import whatif
from recranker_core.errors import InputError

TEXT = (
    'The user liked these movies: "Fugitive, The (1993)": 4, "Psycho (1960)": 5\n'
    'The user disliked these movies: "Eraser (1996)": 2\n'
    "\n"
    'Rate the movie "Taxi Driver (1976)" for this user from 1 to 5. Answer with one number.\n'
    "Hint: BiasedMF predicts 3.3."
)
PROMPT = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": TEXT}], "meta": {}}


def test_history_reads_titles_with_commas_and_ratings():
    assert whatif.history(PROMPT) == {
        "liked": ["Fugitive, The (1993)", "Psycho (1960)"],
        "disliked": ["Eraser (1996)"],
    }


def test_edits_leave_items_and_the_hint_out_and_keep_the_original():
    changed = whatif.edited(
        PROMPT, whatif.Edit(leave_out=("Fugitive, The (1993)", "Eraser (1996)"), hint=False)
    )
    assert changed["messages"][1]["content"] == (
        'The user liked these movies: "Psycho (1960)": 5\n'
        "The user disliked these movies: None.\n"
        "\n"
        'Rate the movie "Taxi Driver (1976)" for this user from 1 to 5. Answer with one number.'
    )
    assert PROMPT["messages"][1]["content"] == TEXT
    assert whatif.edited(PROMPT, whatif.Edit()) == PROMPT


def test_edits_that_cannot_be_scored_say_why():
    with pytest.raises(InputError, match="not in this prompt's history: Jaws"):
        whatif.edited(PROMPT, whatif.Edit(leave_out=("Jaws",)))
    with pytest.raises(InputError, match="keep at least one liked item"):
        whatif.edited(PROMPT, whatif.Edit(leave_out=("Fugitive, The (1993)", "Psycho (1960)")))


def test_variants_leave_each_part_out_once_and_attribution_reads_them():
    prompts, parts = whatif.variants(PROMPT)
    assert parts.values.tolist() == [
        ["Fugitive, The (1993)", "liked"],
        ["Psycho (1960)", "liked"],
        ["Eraser (1996)", "disliked"],
        ["the hint", "hint"],
    ]
    assert len(prompts) == 5 and prompts[0] is PROMPT
    assert "Psycho" not in prompts[2]["messages"][1]["content"]
    assert "Hint:" not in prompts[4]["messages"][1]["content"]
    table = whatif.attribution([3.0, 2.5, 3.5, 3.0, 2.0], parts)
    assert table["influence"].tolist() == [0.5, -0.5, 0.0, 1.0]


def test_prompt_scores_are_what_the_rerank_stage_reads():
    assert whatif.prompt_score("pointwise", np.array([0, 0, 0, 1, 1]), (1, 5)) == 4.5
    assert whatif.prompt_score("pairwise", np.array([3, 1]), (1, 5)) == 0.75
    assert whatif.prompt_score("listwise", np.array([1, 3]), (1, 5), position=1) == 0.75
