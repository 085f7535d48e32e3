"""Typed run configuration and the named profiles (smoke / quick / paper).

A profile is a TOML file with one table per section below; fields left out keep
their defaults. Unknown sections or fields and values of the wrong type are
rejected with an :class:`InputError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recranker_core.errors import InputError

PROFILES_DIR = Path(__file__).parent / "profiles"
BASELINE_MODELS = ("popular", "implicitmf", "bpr", "itemknn", "ease", "biasedmf")
# Opt-in (not fitted by default): the paper's graph and sequential base models, ours in torch.
EXTRA_MODELS = ("lightgcn", "sasrec")
KNOWN_MODELS = BASELINE_MODELS + EXTRA_MODELS
EMBEDDING_MODELS = ("implicitmf", "biasedmf", "lightgcn", "sasrec")
EXCLUDE = ("known", "all-rated")


@dataclass(frozen=True)
class DataConfig:
    like_threshold: float = 4.0
    """Ratings at or above this count as likes."""
    dislike_threshold: float = 3.0
    """Ratings strictly below this count as dislikes; ratings in between are dropped."""
    min_likes: int = 3
    """Users with fewer likes are left out: one like each is needed for test, validation and training."""

    def check(self, where: str) -> None:
        if self.dislike_threshold > self.like_threshold:
            raise InputError(
                f"{where}: data.dislike_threshold = {self.dislike_threshold} is above "
                f"data.like_threshold = {self.like_threshold}"
            )
        if self.min_likes < 3:
            raise InputError(f"{where}: data.min_likes = {self.min_likes} must be at least 3")


@dataclass(frozen=True)
class BaselineConfig:
    models: tuple[str, ...] = BASELINE_MODELS
    """Conventional recommenders to fit, by name (BASELINE_MODELS, plus EXTRA_MODELS on request)."""
    primary: str = "implicitmf"
    """The base model whose candidates and hints feed the LLM stages."""
    embedding_model: str = "implicitmf"
    """The model (one of EMBEDDING_MODELS) whose user embeddings are stored for clustering-based sampling."""
    n_candidates: int = 10
    """Length of each model's candidate list per user."""
    embedding_size: int = 64
    """Latent dimension of the matrix-factorisation models (ALS, BPR, BiasedMF)."""
    als_epochs: int = 10
    """Alternating least-squares sweeps for ImplicitMF and BiasedMF."""
    als_regularization: float = 0.1
    """L2 regularisation of the ALS models."""
    implicit_weight: float = 40.0
    """Confidence weight of observed likes in ImplicitMF."""
    bpr_epochs: int = 20
    """Training epochs of the BPR model (lenskit FlexMF, pairwise loss)."""
    bpr_learning_rate: float = 0.01
    """Adam learning rate of the BPR model."""
    knn_neighbors: int = 20
    """Neighbourhood size of item-based k-NN."""
    ease_regularization: float = 250.0
    """L2 regularisation (lambda) of EASE."""
    lightgcn_layers: int = 2
    """Propagation layers of LightGCN."""
    lightgcn_epochs: int = 200
    """Most LightGCN epochs; it stops earlier when held-out NDCG@10 stops improving."""
    lightgcn_learning_rate: float = 1e-2
    """Adam learning rate of LightGCN (the authors' 1e-3 needs about 250 epochs on ML-100K to get as far)."""
    lightgcn_regularization: float = 1e-4
    """L2 weight on LightGCN's batch embeddings."""
    sasrec_blocks: int = 2
    """Self-attention blocks of SASRec."""
    sasrec_epochs: int = 30
    """Training epochs of SASRec."""
    sasrec_max_len: int = 50
    """Most recent likes SASRec reads."""
    exclude: str = "known"
    """Items kept out of a user's candidates: those rated before the target ("known": what a recommender knows at
    that moment) or every item the user ever rated ("all-rated", which uses ratings made after the target)."""

    def check(self, where: str) -> None:
        for name in (*self.models, self.primary, self.embedding_model):
            if name not in KNOWN_MODELS:
                raise InputError(f"{where}: baselines: unknown model '{name}' (known: {', '.join(KNOWN_MODELS)})")
        if self.exclude not in EXCLUDE:
            raise InputError(f"{where}: baselines.exclude = '{self.exclude}' (known: {', '.join(EXCLUDE)})")
        for name, role in ((self.primary, "primary"), (self.embedding_model, "embedding_model")):
            if name not in self.models:
                raise InputError(f"{where}: baselines.{role} = '{name}' is not in baselines.models")
        if self.embedding_model not in EMBEDDING_MODELS:
            raise InputError(
                f"{where}: baselines.embedding_model = '{self.embedding_model}' has no user embeddings"
            )
        for name in ("n_candidates", "embedding_size", "lightgcn_layers", "lightgcn_epochs", "sasrec_blocks", "sasrec_epochs", "sasrec_max_len"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}: baselines.{name} = {getattr(self, name)} must be positive")


@dataclass(frozen=True)
class EvaluationConfig:
    ks: tuple[int, ...] = (3, 5, 10)
    """Cut-offs for HR@k and NDCG@k."""
    bootstrap_samples: int = 1000
    """Bootstrap resamples of the test users for confidence intervals."""
    ci_level: float = 0.95
    """Coverage of the confidence intervals."""

    def check(self, where: str) -> None:
        if not self.ks or min(self.ks) < 1:
            raise InputError(f"{where}: evaluation.ks = {list(self.ks)} must be positive cut-offs")
        if not 0 < self.ci_level < 1:
            raise InputError(f"{where}: evaluation.ci_level = {self.ci_level} must lie in (0, 1)")
        if self.bootstrap_samples < 10:
            raise InputError(
                f"{where}: evaluation.bootstrap_samples = {self.bootstrap_samples} must be at least 10"
            )


SAMPLING_METHODS = ("adaptive", "uniform", "importance", "clustering")
NEGATIVES = ("candidates", "random")
HISTORY = ("random", "recent")
LISTWISE_POSITIVES = ("one", "paper")


@dataclass(frozen=True)
class SamplingConfig:
    method: str = "adaptive"
    """Which users get instruction data: adaptive, uniform, importance or clustering."""
    n_users: int = 1000
    """N, the number of user draws (duplicates allowed; the paper uses 5,000, 10,000 for ML-1M)."""
    importance_fraction: float = 0.6
    """Adaptive: share of N drawn importance-aware (weight ln #training likes) into the pool."""
    clustering_fraction: float = 0.6
    """Adaptive: share of N drawn clustering-based (cluster quotas in proportion to size) into the pool."""
    clusters: int = 10
    """KMeans clusters on the base model's user embeddings."""
    repetition_penalty: float = 0.95
    """Adaptive: a pooled user drawn c times gets weight penalty^(c - 1) per pool entry in the final draw."""
    replacement: bool = True
    """Draw with replacement inside clusters, in the final penalty-weighted draw and in uniform draws (the official
    code's draws); False draws without while the users last."""

    def check(self, where: str) -> None:
        if self.method not in SAMPLING_METHODS:
            raise InputError(
                f"{where}: sampling.method = '{self.method}' (known: {', '.join(SAMPLING_METHODS)})"
            )
        if self.n_users < 1 or self.clusters < 1:
            raise InputError(f"{where}: sampling.n_users and sampling.clusters must be positive")
        for name in ("importance_fraction", "clustering_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise InputError(f"{where}: sampling.{name} = {getattr(self, name)} must lie in (0, 1]")
        if not 0 < self.repetition_penalty <= 1:
            raise InputError(f"{where}: sampling.repetition_penalty = {self.repetition_penalty} must lie in (0, 1]")


@dataclass(frozen=True)
class PromptConfig:
    domain: str = "movie"
    """The noun for items in prompts ("movie", "book", ...)."""
    history: str = "random"
    """Which rated items a prompt's history shows: "random" (drawn at random, in random order: the paper's) or "recent"
    (the most recent, newest first). The sequential scenario always shows the most recent, in time order."""
    max_liked: int = 50
    """Most liked items shown in a prompt's history (the paper's 50)."""
    max_disliked: int = 10
    """Most disliked items shown (the paper's 10)."""
    min_disliked: int = 3
    """Fewer disliked items than this are shown as "None." (the paper's 3)."""
    pointwise_ratings: bool = True
    """Pointwise prompts show each history item's rating, "Title": 4, as the paper's do."""
    shift: bool = True
    """Position shifting: shuffle the history (pointwise), swap the pair (pairwise), shuffle candidates (listwise)."""
    sequential: bool = False
    """Sequential scenario: the history in time order, most recent last, and never shuffled (only pairs and candidates are)."""
    swap_probability: float = 0.5
    """Pairwise shift: chance that the two items are shown in swapped order."""
    rating_hint_model: str = "biasedmf"
    """Explicit model whose predicted rating is the pointwise hint ("" for none)."""
    hint_models: tuple[str, ...] = ("implicitmf",)
    """Models whose scores give the pairwise and listwise hints, side by side (empty for none)."""
    pointwise_hint: bool = True
    """Show the predicted-rating hint in pointwise prompts."""
    pairwise_hint: bool = True
    """Show which item each hint model scores higher in pairwise prompts."""
    listwise_hint: bool = True
    """Show each hint model's top 5 among the candidates in listwise prompts."""
    genres: bool = False
    """Show item genres next to titles."""
    popularity: bool = False
    """Show a coarse popularity bucket next to titles."""
    negatives: str = "random"
    """Training negatives: random unseen items ("random", the paper's; chosen on validation users, see
    bench/results/ablation-quick.md) or the base model's ranking around the held-out like at that moment
    ("candidates", hard negatives shaped like test-time lists)."""
    pairwise_per_user: int = 2
    """Pairwise training examples per sampled draw."""
    pairwise_dislike: bool = True
    """The first pairwise example of a draw sets the like against the user's held-out dislike, when there is one
    (False: every pair is against a negative, as the paper's)."""
    listwise_positives: str = "one"
    """Liked items in a listwise training list: "one" (the held-out like among nine negatives, as test lists hold one)
    or "paper" (three top-rated and two next-rated likes among five negatives, held out from the history and every
    hint model; the answer lists them; users without them get no listwise example)."""
    listwise_answer: int = 5
    """Labels in a listwise answer."""
    test_pairs: int = 5
    """Candidate pairs per rerank user, taken from random perfect matchings of the candidates (five disjoint pairs
    cover ten candidates once: the paper's), each asked in both orders."""
    test_all_pairs: bool = False
    """Ask every pair of candidates instead (45 for ten candidates), in both orders."""
    listwise_copies: int = 3
    """Listwise prompts per rerank user: the candidates in base order (the paper's test prompt), then K - 1 shuffles
    (test-time bootstrap)."""
    test_users: int = 0
    """Evaluate on a seeded random subset of this many test users (0 = all); for CPU-sized runs."""
    rerank_valid_users: int = 100
    """Validation users given test-style prompts, whose scores tune the hybrid (0 = all eligible)."""

    def check(self, where: str) -> None:
        for name in (*self.hint_models, *((self.rating_hint_model,) if self.rating_hint_model else ())):
            if name not in KNOWN_MODELS:
                raise InputError(f"{where}: prompts: unknown hint model '{name}' (known: {', '.join(KNOWN_MODELS)})")
        for name, known in (("history", HISTORY), ("listwise_positives", LISTWISE_POSITIVES), ("negatives", NEGATIVES)):
            if getattr(self, name) not in known:
                raise InputError(f"{where}: prompts.{name} = '{getattr(self, name)}' (known: {', '.join(known)})")
        if not 0 <= self.swap_probability <= 1:
            raise InputError(f"{where}: prompts.swap_probability = {self.swap_probability} must lie in [0, 1]")
        for name in ("max_liked", "pairwise_per_user", "listwise_answer", "test_pairs", "listwise_copies"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}: prompts.{name} = {getattr(self, name)} must be at least 1")
        for name in ("max_disliked", "min_disliked"):
            if getattr(self, name) < 0:
                raise InputError(f"{where}: prompts.{name} = {getattr(self, name)} must not be negative")


LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
RERANK_MODES = ("logits", "generate")
RERANK_BACKENDS = ("transformers", "vllm")


@dataclass(frozen=True)
class LLMConfig:
    model: str = "embedded"
    """The causal LM: "embedded" (SmolLM2-135M-Instruct), "tiny" (tests) or a local Hugging Face folder."""
    full_finetune: bool = False
    """Train every weight instead of a LoRA adapter."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA branch."""
    target_modules: tuple[str, ...] = LORA_TARGETS
    """Linear layers that get LoRA adapters (all attention and MLP projections by default)."""
    lora_layers: int = 0
    """Adapt only the top this many transformer layers (0 = all); backward then stops there, which saves CPU time."""
    learning_rate: float = 3e-4
    """AdamW learning rate."""
    epochs: float = 1.0
    """Passes over the (capped) training examples."""
    batch_size: int = 8
    """Examples per optimizer step."""
    max_length: int = 512
    """Longest tokenized example; longer ones are skipped and counted."""
    train_examples: int = 0
    """Training examples used, drawn evenly from the three tasks in a seeded order (0 = all)."""
    valid_examples: int = 120
    """Validation examples for the evaluation loss (0 = all)."""
    eval_every: int = 0
    """Evaluation-loss interval in optimizer steps (0 = only before and after training)."""
    checkpoint_steps: int = 100
    """Optimizer steps between training checkpoints; a stopped train resumes from the last one (0 = none)."""

    def check(self, where: str) -> None:
        if self.checkpoint_steps < 0:
            raise InputError(f"{where}: llm.checkpoint_steps = {self.checkpoint_steps} must be 0 or more")
        for name in ("lora_r", "lora_alpha", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}: llm.{name} = {getattr(self, name)} must be at least 1")
        if self.learning_rate <= 0 or self.epochs <= 0:
            raise InputError(f"{where}: llm.learning_rate and llm.epochs must be positive")


@dataclass(frozen=True)
class RerankConfig:
    mode: str = "logits"
    """"logits": constrained label probabilities; "generate": greedy generation then parsing (the paper's)."""
    prefix_cache: bool = True
    """Encode each user's shared prompt prefix once and reuse its KV cache (logits mode)."""
    batch_size: int = 16
    """Prompt continuations scored per forward pass."""
    zeroshot: bool = True
    """Also score every prompt with the untuned model (methods zeroshot:<task>)."""
    hybrid_weights: tuple[float, ...] = (0.5, 0.05, 0.025)
    """Paper's hybrid weights a1 (pairwise wins), a2 (base rank), a3 (listwise position)."""
    threads: int = 0
    """torch CPU threads (0 = all cores)."""
    checkpoint_users: int = 25
    """Users scored between two saved checkpoints; a stopped rerank resumes from the last one."""
    backend: str = "transformers"
    """Engine of generate mode: "transformers", or "vllm" (optional, needs the vllm package and a CUDA GPU)."""

    def check(self, where: str) -> None:
        if self.mode not in RERANK_MODES:
            raise InputError(f"{where}: rerank.mode = '{self.mode}' (known: {', '.join(RERANK_MODES)})")
        if self.backend not in RERANK_BACKENDS:
            raise InputError(f"{where}: rerank.backend = '{self.backend}' (known: {', '.join(RERANK_BACKENDS)})")
        if self.backend == "vllm" and self.mode != "generate":
            raise InputError(f"{where}: rerank.backend = 'vllm' needs rerank.mode = 'generate' (logits mode reads label probabilities with transformers)")
        if len(self.hybrid_weights) != 3:
            raise InputError(f"{where}: rerank.hybrid_weights needs three numbers (a1, a2, a3)")
        for name in ("batch_size", "checkpoint_users"):
            if getattr(self, name) < 1:
                raise InputError(f"{where}: rerank.{name} = {getattr(self, name)} must be at least 1")


@dataclass(frozen=True)
class RunConfig:
    profile: str = "quick"
    """Name of the profile this configuration came from."""
    seed: int = 42
    """Seed for every random choice of the run."""
    seeds: int = 1
    """Times the seed-dependent LLM stages (sample, instructions, train, rerank) run, with seeds seed, seed + 1, ...
    on the same candidates and evaluated users; metrics.json reports each method's mean and spread across them."""
    data: DataConfig = field(default_factory=DataConfig)
    """How ratings become likes, dislikes and the leave-one-out split."""
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    """The conventional recommenders and their candidate lists."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Metrics and confidence intervals."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """Which users the instruction data is built from."""
    prompts: PromptConfig = field(default_factory=PromptConfig)
    """Prompt content, hints, position shifting, negatives and test-time prompts."""
    llm: LLMConfig = field(default_factory=LLMConfig)
    """The language model and its instruction tuning."""
    rerank: RerankConfig = field(default_factory=RerankConfig)
    """How the tuned (and untuned) model scores the candidates."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {
    "data": DataConfig,
    "baselines": BaselineConfig,
    "evaluation": EvaluationConfig,
    "sampling": SamplingConfig,
    "prompts": PromptConfig,
    "llm": LLMConfig,
    "rerank": RerankConfig,
}


def load_profile(name_or_path: str) -> RunConfig:
    """Load a named profile (``smoke``, ``quick``, ``paper``) or a TOML file."""
    path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        path = Path(name_or_path)
        if path.suffix != ".toml" or not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
            raise InputError(f"profile '{name_or_path}': no such profile or TOML file (profiles: {known})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    return config_from_dict(raw, where=str(path), profile=raw.pop("profile", path.stem))


def config_from_dict(raw: dict[str, Any], *, where: str, profile: str) -> RunConfig:
    raw = dict(raw)
    seed = _coerce(raw.pop("seed", RunConfig.seed), int, where, "seed")
    seeds = _coerce(raw.pop("seeds", RunConfig.seeds), int, where, "seeds")
    if seeds < 1:
        raise InputError(f"{where}: seeds = {seeds} must be at least 1")
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SECTIONS:
            raise InputError(f"{where}: unknown field '{key}' (known: profile, seed, seeds, {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise InputError(f"{where}: '{key}' must be a table, got {value!r}")
        sections[key] = _section(SECTIONS[key], value, where, key)
    config = RunConfig(profile=str(profile), seed=seed, seeds=seeds, **sections)
    for section in (
        config.data, config.baselines, config.evaluation, config.sampling, config.prompts, config.llm, config.rerank
    ):  # fmt: skip
        section.check(where)
    for name in (*config.prompts.hint_models, config.prompts.rating_hint_model):
        if name and name not in config.baselines.models:
            raise InputError(f"{where}: hint model '{name}' is not in baselines.models")
    return config


def _section(cls: type, values: dict[str, Any], where: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{where}: unknown field '{prefix}.{key}' (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(value, hints[key], where, f"{prefix}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item_type, _) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: '{name}' must be a list, got {value!r}")
        return tuple(_coerce(v, item_type, where, name) for v in value)
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }[hint]
    if not ok:
        raise InputError(f"{where}: '{name}' must be {hint.__name__}, got {value!r}")
    return hint(value)


SCENARIOS = ("direct", "sequential")


def with_scenario(config: RunConfig, scenario: str) -> RunConfig:
    """``direct`` leaves the config as it is; ``sequential`` makes SASRec the base model (candidates,
    hints and user embeddings) and shows the history in time order (``prompts.sequential``)."""
    if scenario not in SCENARIOS:
        raise InputError(f"--scenario {scenario}: use one of {', '.join(SCENARIOS)}")
    if scenario == "direct":
        return config
    base = config.baselines
    models = base.models if "sasrec" in base.models else (*base.models, "sasrec")
    return dataclasses.replace(
        config,
        baselines=dataclasses.replace(base, models=models, primary="sasrec", embedding_model="sasrec"),
        prompts=dataclasses.replace(config.prompts, sequential=True, hint_models=("sasrec",)),
    )
