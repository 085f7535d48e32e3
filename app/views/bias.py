"""Position bias: listwise accuracy by shown position, pairwise order consistency, what averaging
copies buys."""

import streamlit as st
from studio import session

from recranker_core import rundir
from recranker_core.analysis import bias, charts
from recranker_core.analysis.escaping import markdown as md

st.title("Position bias")
run = session.require_run()
session.require(run, rundir.LLM_OUTPUTS, rundir.TASK_SCORES)
outputs = session.table(run, rundir.LLM_OUTPUTS)
scores = session.table(run, rundir.TASK_SCORES)
split = session.table(run, rundir.SPLIT)
truth = bias.targets(
    split.loc[split["role"] == "test", ["user_id", "item_id"]],
    split.loc[split["role"] == "valid", ["user_id", "item_id"]],
)
splits = {
    "test and validation prompts": ["test", "valid-rerank"],
    "test prompts": ["test"],
    "validation prompts": ["valid-rerank"],
}
which = (
    st.segmented_control("Prompts", list(splits), default="test and validation prompts", key="bias_split")
    or "test and validation prompts"
)
outputs = outputs[outputs["split"].isin(splits[which])]
st.caption(
    "Each prompt is judged by the user's held-out item (the test item for test prompts, the validation "
    "item for the validation prompts that tune the hybrid), where it is among the ten candidates."
)

st.subheader("Listwise: is the target picked wherever it is shown?")
per_prompt = bias.listwise_positions(outputs, truth)
if per_prompt.empty:
    st.info("No listwise prompt shows its target item.", icon=":material/info:")
else:
    by_position = bias.accuracy_by_position(per_prompt)
    st.plotly_chart(charts.position_accuracy(by_position), width="stretch", key="bias_positions")
    st.caption(
        "A model without position bias has a flat profile; the dashed line is a random pick. "
        "Few prompts per position make single bars noisy."
    )
    st.markdown("**Where the first choice lands**")
    st.plotly_chart(charts.top_picks(bias.top_pick_positions(outputs)), width="stretch", key="bias_picks")
    st.caption(
        "Over every listwise prompt: a model that reads the items spreads its first choices "
        "over the positions."
    )

st.subheader("Pairwise: the same answer in both orders?")
pairs = bias.pair_orders(outputs)
if pairs.empty:
    st.info("No pair was asked in both orders.", icon=":material/info:")
else:
    summary = bias.consistency(pairs)
    columns = st.columns(len(summary))
    for column, row in zip(columns, summary.itertuples()):
        column.metric(
            f"{md(row.family)}: orders agree", f"{row.agreement:.0%}", help=f"over {row.pairs} pairs"
        )
        column.metric(
            f"{md(row.family)}: P(shown first preferred)",
            f"{row.shown_first:.2f}",
            help="0.50 = no preference for a position",
        )
    st.plotly_chart(charts.pair_scatter(pairs), width="stretch", key="bias_pairs")
    st.caption(
        "Consistent answers fall in the shaded corners; points near the anti-diagonal mean the model "
        "follows the order, not the items."
    )

st.subheader("Shifting and test-time bootstrap")
base_ranks = scores[["split", "user_id", "item_id", "base_rank"]].drop_duplicates()
effect = bias.copies_effect(outputs, base_ranks, truth, session.scale(split))
if effect.empty:
    st.info("No listwise copies to compare.", icon=":material/info:")
else:
    st.dataframe(
        effect,
        hide_index=True,
        width="stretch",
        key="bias_copies",
        column_config={m: st.column_config.NumberColumn(format="%.3f") for m in ("HR@1", "HR@3", "NDCG@5")},
    )
    st.caption(
        "Listwise ranking from each shuffled copy alone against the copies averaged "
        "(the run's listwise method), over the users whose target is among the candidates."
    )
