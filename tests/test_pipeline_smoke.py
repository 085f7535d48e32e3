"""The whole method end to end with the smoke profile (tiny model) on the ML-100K-format fixture."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

LLM_METHODS = {
    "zeroshot:pointwise",
    "zeroshot:pairwise",
    "zeroshot:listwise",
    "pointwise",
    "pairwise",
    "listwise",
    "hybrid",
    "hybrid-tuned",
    "fusion",
    "zeroshot:fusion",
    "control:hints",
}


@pytest.fixture
def smoke(smoke_run):
    return smoke_run


def test_metrics_compare_every_method_with_intervals(smoke):
    metrics = json.loads((smoke / "metrics.json").read_text())
    assert LLM_METHODS | {"base:implicitmf", "base:ease"} <= set(metrics["methods"])
    for entry in metrics["methods"].values():
        assert entry["users"] == metrics["test_users"] == 40
        for interval in entry["metrics"].values():
            assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
    # The rerank stage's choices on validation users live in hybrid.json alone.
    results = json.loads((smoke / "hybrid.json").read_text())
    assert set(results["validation_pairwise_accuracy"]) >= LLM_METHODS - {"hybrid-tuned"} | {
        "base:implicitmf"
    }
    assert len(results["tuned_weights"]) == 3
    assert not {"validation_pairwise_accuracy", "hybrid_tuned_weights", "fusion"} & set(metrics)
    # The judged method was chosen by validation NDCG@3 among the LLM rows, and set against its rivals.
    selected = metrics["selected"]
    validation = results["validation_ndcg@3"]
    llm_rows = {m: v for m, v in validation.items() if not m.startswith(("base:", "control:"))}
    assert selected["method"] == results["selected"] == max(llm_rows, key=llm_rows.get)
    assert selected["chosen_by"] == "validation NDCG@3"
    assert set(selected["against"]) == {"base:implicitmf", "control:hints"}
    assert set(results["fusion"]["fusion"]["weights"]) == {"pointwise", "pairwise", "listwise"}
    # Beyond accuracy: every method, over the users it has lists for, paired with the reference.
    rankings = pd.read_parquet(smoke / "rankings.parquet")
    assert set(metrics["beyond"]) == set(metrics["methods"])
    for method, entry in metrics["beyond"].items():
        assert set(entry) == {
            f"{m}@{k}"
            for m in ("coverage", "arp", "tail", "novelty", "ild", "miscalibration")
            for k in (3, 5)
        }
        assert entry["arp@5"]["users"] == rankings.loc[rankings["method"] == method, "user_id"].nunique()
        assert ("delta" in entry["tail@3"]) == (method != metrics["reference"])


def test_llm_methods_rerank_exactly_the_base_candidates(smoke):
    rankings = pd.read_parquet(smoke / "rankings.parquet")
    base = rankings[rankings["method"] == "base:implicitmf"]
    for method in LLM_METHODS:
        ranked = rankings[rankings["method"] == method]
        assert len(ranked) > 0
        for user, rows in ranked.groupby("user_id"):
            assert sorted(rows["rank"]) == list(range(1, 11))
            assert set(rows["item_id"]) == set(base.loc[base["user_id"] == user, "item_id"])


def test_outputs_hold_label_probabilities_for_the_dashboard(smoke):
    outputs = pd.read_parquet(smoke / "llm_outputs.parquet")
    assert set(outputs["family"]) == {"tuned", "zeroshot"} and set(outputs["split"]) == {
        "test",
        "valid-rerank",
    }
    sizes = {"pointwise": 5, "pairwise": 2, "listwise": 10}
    for task, probs in zip(outputs["task"], outputs["probs"]):
        assert len(probs) == sizes[task] and np.isclose(sum(probs), 1.0, atol=1e-5)
    scores = pd.read_parquet(smoke / "task_scores.parquet")
    assert {"pointwise", "pairwise", "listwise", "base_rank"} <= set(scores.columns)
    assert scores["pointwise"].between(1, 5).all()
    manifest = json.loads((smoke / "manifest.json").read_text())
    assert (
        manifest["stages"]["train"]["summary"]["valid_loss_after"]
        < manifest["stages"]["train"]["summary"]["valid_loss_before"]
    )
    assert (smoke / "adapter" / "adapter_model.safetensors").is_file()


def test_generate_mode_parses_and_counts_failures(smoke, tmp_path):
    import shutil

    from recranker_core.stages import REGISTRY

    copy = tmp_path / "generate"
    shutil.copytree(smoke, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["rerank"]["mode"] = "generate"
    manifest["config"]["rerank"]["zeroshot"] = False
    (copy / "manifest.json").write_text(json.dumps(manifest))
    summary = REGISTRY["rerank"].run(copy)
    rates = summary["parse_failure_rate"]
    assert set(rates) == {"tuned:pointwise", "tuned:pairwise", "tuned:listwise"}
    # The tiny model is random: most answers do not parse, and each one is counted, not hidden.
    assert all(0.0 <= r <= 1.0 for r in rates.values()) and max(rates.values()) > 0
    outputs = pd.read_parquet(copy / "llm_outputs.parquet")
    assert outputs["raw"].notna().all()


def test_the_llm_stages_record_device_dtype_and_throughput(smoke):
    """Training and every rerank block record where and how fast they ran; Run details reads them."""
    from recranker_core.analysis.tables import llm_cost_table
    from recranker_core.manifest import Manifest

    manifest = Manifest.read(smoke)
    train = manifest.stage("train")["summary"]
    assert train["device"] == "cpu" and train["dtype"] == "float32"  # the smoke profile's dtype
    assert train["skipped_too_long"] == 0 and 0 < train["train_tokens"] <= train["computed_tokens"]
    assert train["tokens_per_second"] > 0
    blocks = manifest.stage("rerank")["blocks"]
    prompts = len(pd.read_parquet(smoke / "llm_outputs.parquet"))
    assert {b["family"] for b in blocks} == {"tuned", "zeroshot"} and sum(
        b["prompts"] for b in blocks
    ) == prompts
    assert all(0 < b["tokens"] <= b["computed_tokens"] and b["seconds"] > 0 for b in blocks)
    assert manifest.stage("rerank")["summary"]["scoring"]["prompts"] == prompts
    cost = llm_cost_table(manifest)
    assert cost[["stage", "family"]].values.tolist() == [
        ["train", ""],
        ["rerank", "tuned"],
        ["rerank", "zeroshot"],
    ]
    assert cost.loc[cost["stage"] == "rerank", "items"].sum() == prompts
