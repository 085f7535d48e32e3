"""Typed run configuration and the named profiles (smoke / quick / paper / official).

A profile is a TOML file with one table per section of :class:`RunConfig` (and `[baselines.lightgcn]`,
`[baselines.sasrec]` for our torch recommenders, in ``baselines/settings.py``; `[llm]` and `[rerank]` are
in ``llm_settings.py``); fields left out keep their defaults. Each section is a frozen pydantic
dataclass: pydantic checks types (strictly: no "5" for 5) and the constraints written on the fields, and
:func:`config_from_dict` turns the first problem, an unknown field (with the nearest valid name) or a
broken cross-field rule into one :class:`InputError` line naming the file, the field and the value.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from recranker_core.baselines.settings import LightGCNConfig, SASRecConfig
from recranker_core.config_fields import FROM_LIST, SECTION, Count, Distinct, Positive, Rate, Share
from recranker_core.errors import InputError
from recranker_core.llm_settings import LLMConfig, RerankConfig

PROFILES_DIR = Path(__file__).parent / "profiles"
BaselineModel = Literal["popular", "implicitmf", "bpr", "itemknn", "ease", "biasedmf"]
# Opt-in (not fitted by default): the paper's graph and sequential base models, ours in torch.
ExtraModel = Literal["lightgcn", "sasrec"]
Model = Literal[BaselineModel, ExtraModel]
EmbeddingModel = Literal["implicitmf", "biasedmf", "lightgcn", "sasrec"]
"""The models whose user embeddings clustering-based sampling can use."""
BASELINE_MODELS, EXTRA_MODELS = get_args(BaselineModel), get_args(ExtraModel)
KNOWN_MODELS, EMBEDDING_MODELS = get_args(Model), get_args(EmbeddingModel)
SEED_LIMIT = 2**31 - 1
SEEDS_LIMIT = 1000
"""Most replicates a run may have (``seeds``, ``run --seeds``)."""
"""The largest seed: scikit-learn takes seeds below 2**32, and replicate k (at most 999) uses seed + k."""


@dataclass(frozen=True, config=SECTION)
class DataConfig:
    like_threshold: float | None = None
    """Ratings at or above this count as likes (unset: 80% of the scale's top, 4 of 5, 8 of 10)."""
    dislike_threshold: float | None = None
    """Ratings strictly below this count as dislikes, those in between are dropped (unset: 60% of the
    scale's top, 3 of 5, 6 of 10)."""
    min_likes: Annotated[int, Field(ge=3)] = 3
    """Users with fewer likes are left out: one like each is needed for test, validation and training."""
    min_user_ratings: Count = 0
    """k-core filter: users with fewer ratings are left out, with items, until none is left (0: none)."""
    min_item_ratings: Count = 0
    """k-core filter: items with fewer ratings are left out, with users, until none is left (0: none)."""

    @model_validator(mode="after")
    def _thresholds(self) -> DataConfig:
        if None not in (self.like_threshold, self.dislike_threshold):
            self.thresholds(0.0)
        return self

    def thresholds(self, top: float) -> tuple[float, float]:
        """(like, dislike) thresholds for ratings whose scale tops out at ``top``."""
        like = self.like_threshold if self.like_threshold is not None else round(LIKE_SHARE * top, 6)
        dislike = (
            self.dislike_threshold if self.dislike_threshold is not None else round(DISLIKE_SHARE * top, 6)
        )
        if dislike > like:
            unset = (
                "" if None not in (self.like_threshold, self.dislike_threshold) else f" (scale top {top:g})"
            )
            raise ValueError(
                f"data.dislike_threshold = {dislike} is above data.like_threshold = {like}{unset}"
            )
        return like, dislike


LIKE_SHARE, DISLIKE_SHARE = 0.8, 0.6
"""The default thresholds as shares of the scale's top: MovieLens's 4 and 3 of 5 (the paper's), and the
same shares of BookCrossing's 10."""


@dataclass(frozen=True, config=SECTION)
class BaselineConfig:
    models: Annotated[tuple[Model, ...], FROM_LIST, Distinct] = BASELINE_MODELS
    """Conventional recommenders to fit, by name (BASELINE_MODELS, plus EXTRA_MODELS on request)."""
    primary: Model = "implicitmf"
    """The base model whose candidates and hints feed the LLM stages."""
    embedding_model: EmbeddingModel = "implicitmf"
    """The model (one of EMBEDDING_MODELS) whose user embeddings are stored for clustering-based sampling,
    and whose user and item vectors collaborative tokens carry."""
    n_candidates: Positive = 10
    """Length of each model's candidate list per user."""
    embedding_size: Positive = 64
    """Latent dimension of the matrix-factorisation models (ALS, BPR, BiasedMF)."""
    als_epochs: Positive = 10
    """Alternating least-squares sweeps for ImplicitMF and BiasedMF."""
    als_regularization: Annotated[float, Field(ge=0)] = 0.1
    """L2 regularisation of the ALS models."""
    implicit_weight: Rate = 40.0
    """Confidence weight of observed likes in ImplicitMF."""
    bpr_epochs: Positive = 20
    """Training epochs of the BPR model (lenskit FlexMF, pairwise loss)."""
    bpr_learning_rate: Rate = 0.01
    """Adam learning rate of the BPR model."""
    knn_neighbors: Positive = 20
    """Neighbourhood size of item-based k-NN."""
    ease_regularization: Rate = 250.0
    """L2 regularisation (lambda) of EASE."""
    lightgcn: LightGCNConfig = Field(default_factory=LightGCNConfig, strict=False)
    """LightGCN's own settings (`[baselines.lightgcn]`), handed to its lenskit component as they are."""
    sasrec: SASRecConfig = Field(default_factory=SASRecConfig, strict=False)
    """SASRec's own settings (`[baselines.sasrec]`), handed to its lenskit component as they are."""
    exclude: Literal["known", "all-rated"] = "known"
    """Items kept out of a user's candidates: those rated before the target ("known": what a recommender
    knows at that moment) or every item the user ever rated ("all-rated", which uses ratings made after
    the target)."""

    @model_validator(mode="after")
    def _fitted(self) -> BaselineConfig:
        for name, role in ((self.primary, "primary"), (self.embedding_model, "embedding_model")):
            if name not in self.models:
                raise ValueError(f"baselines.{role} = '{name}' is not in baselines.models")
        return self


@dataclass(frozen=True, config=SECTION)
class EvaluationConfig:
    ks: Annotated[tuple[Positive, ...], FROM_LIST, Field(min_length=1), Distinct] = (3, 5, 10)
    """Cut-offs for HR@k and NDCG@k."""
    bootstrap_samples: Annotated[int, Field(ge=10, le=100_000)] = 1000
    """Bootstrap resamples of the test users for confidence intervals."""
    ci_level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Coverage of the confidence intervals."""


@dataclass(frozen=True, config=SECTION)
class SamplingConfig:
    method: Literal["adaptive", "uniform", "importance", "clustering"] = "adaptive"
    """Which users get instruction data: adaptive, uniform, importance or clustering."""
    n_users: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    """N, the number of user draws (duplicates allowed; the paper uses 5,000, 10,000 for ML-1M)."""
    importance_fraction: Share = 0.6
    """Adaptive: share of N drawn importance-aware (weight ln #training likes) into the pool."""
    clustering_fraction: Share = 0.6
    """Adaptive: share of N drawn clustering-based (cluster quotas in proportion to size) into the pool."""
    clusters: Positive = 10
    """KMeans clusters on the base model's user embeddings."""
    repetition_penalty: Share = 0.95
    """Adaptive: a pooled user drawn c times gets weight penalty^(c - 1) per pool entry in the final draw."""
    replacement: bool = True
    """Draw with replacement inside clusters, in the final penalty-weighted draw and in uniform draws
    (the official code's draws); False draws without while the users last."""


@dataclass(frozen=True, config=SECTION)
class PromptConfig:
    domain: str = ""
    """What the items are called in prompts ("movie"; empty: the dataset's own: movie for MovieLens, book for
    BookCrossing, product for Amazon, item for a ratings CSV)."""
    history: Literal["random", "recent"] = "random"
    """Which rated items a prompt's history shows: "random" (drawn at random, in random order: the
    paper's) or "recent" (the most recent, newest first). The sequential scenario always shows the most
    recent, in time order."""
    max_liked: Positive = 50
    """Most liked items shown in a prompt's history (the paper's 50)."""
    max_disliked: Count = 10
    """Most disliked items shown (the paper's 10)."""
    min_disliked: Count = 3
    """Fewer disliked items than this are shown as "None." (the paper's 3)."""
    pointwise_ratings: bool = True
    """Pointwise prompts show each history item's rating, "Title": 4, as the paper's do."""
    shift: bool = True
    """Position shifting: shuffle the history (pointwise), swap the pair (pairwise), shuffle candidates
    (listwise)."""
    sequential: bool = False
    """Sequential scenario: the history in time order, most recent last, and never shuffled (only pairs
    and candidates are)."""
    swap_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    """Pairwise shift: chance that the two items are shown in swapped order."""
    rating_hint_model: Model | Literal[""] = "biasedmf"
    """Explicit model whose predicted rating is the pointwise hint ("" for none)."""
    hint_models: Annotated[tuple[Model, ...], FROM_LIST, Distinct] = ("implicitmf",)
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
    collab_tokens: bool = False
    """Collaborative tokens (CoLLM / LLaRA): mark the user and each asked-about item with a token that
    carries baselines.embedding_model's vector, mapped into the LLM's input space by a projector trained
    with the LoRA adapter."""
    negatives: Literal["random", "candidates"] = "random"
    """Training negatives: random unseen items ("random", the paper's; chosen on validation users, see
    bench/results/ablation-quick.md) or the base model's ranking around the held-out like at that moment
    ("candidates", hard negatives shaped like test-time lists)."""
    pairwise_per_user: Positive = 2
    """Pairwise training examples per sampled draw."""
    pairwise_dislike: bool = True
    """The first pairwise example of a draw sets the like against the user's held-out dislike, when
    there is one (False: every pair is against a negative, as the paper's)."""
    listwise_positives: Literal["one", "paper"] = "one"
    """Liked items in a listwise training list: "one" (the held-out like among nine negatives, as test
    lists hold one) or "paper" (three top-rated and two next-rated likes among five negatives, held out
    from the history and every hint model; the answer lists them; users without them get no listwise
    example)."""
    listwise_answer: Positive = 5
    """Labels in a listwise answer."""
    test_pairs: Positive = 5
    """Candidate pairs per rerank user, taken from random perfect matchings of the candidates (five
    disjoint pairs cover ten candidates once: the paper's), each asked in both orders."""
    test_all_pairs: bool = False
    """Ask every pair of candidates instead (45 for ten candidates), in both orders."""
    listwise_copies: Positive = 3
    """Listwise prompts per rerank user: the candidates in base order (the paper's test prompt), then
    K - 1 shuffles (test-time bootstrap)."""
    test_users: Count = 0
    """Evaluate on a seeded random subset of this many test users (0 = all); for CPU-sized runs."""
    rerank_users: Literal["hits", "all"] = "hits"
    """Test users the LLM reranks: "hits", those whose test item is among the candidates (enough for HR and
    NDCG, which count the others as misses whatever the order), or "all" evaluated users (for metrics of
    whole lists)."""
    rerank_valid_users: Count = 100
    """Validation users given test-style prompts, whose scores tune the hybrid (0 = all eligible)."""


@dataclass(frozen=True, config=SECTION)
class RunConfig:
    profile: str = "quick"
    """Name of the profile this configuration came from."""
    seed: Annotated[int, Field(ge=0, le=SEED_LIMIT)] = 42
    """Seed for every random choice of the run."""
    seeds: Annotated[int, Field(ge=1, le=SEEDS_LIMIT)] = 1
    """Times the seed-dependent LLM stages (sample, instructions, train, rerank) run, with seeds seed,
    seed + 1, ... on the same candidates and evaluated users; metrics.json reports each method's mean and
    spread across them."""
    data: DataConfig = Field(default_factory=DataConfig)
    """How ratings become likes, dislikes and the leave-one-out split."""
    baselines: BaselineConfig = Field(default_factory=BaselineConfig)
    """The conventional recommenders and their candidate lists."""
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    """Metrics and confidence intervals."""
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    """Which users the instruction data is built from."""
    prompts: PromptConfig = Field(default_factory=PromptConfig)
    """Prompt content, hints, position shifting, negatives and test-time prompts."""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    """The language model and its instruction tuning."""
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    """How the tuned (and untuned) model scores the candidates."""

    @model_validator(mode="after")
    def _hint_models_fitted(self) -> RunConfig:
        for name in (*self.prompts.hint_models, self.prompts.rating_hint_model):
            if name and name not in self.baselines.models:
                raise ValueError(f"hint model '{name}' is not in baselines.models")
        return self

    @model_validator(mode="after")
    def _sizes_within_the_lists(self) -> RunConfig:
        n, ks, prompts = self.baselines.n_candidates, self.evaluation.ks, self.prompts
        longest = f"the candidate lists hold (baselines.n_candidates = {n})"
        if max(ks) > n:
            raise ValueError(f"evaluation.ks = {list(ks)}: {max(ks)} is more than {longest}")
        if prompts.listwise_answer > n:
            raise ValueError(f"prompts.listwise_answer = {prompts.listwise_answer} is more than {longest}")
        if prompts.test_pairs > n * (n - 1) // 2:
            raise ValueError(
                f"prompts.test_pairs = {prompts.test_pairs} is more than the {n * (n - 1) // 2} pairs of "
                f"{n} candidates (prompts.test_all_pairs = true asks them all)"
            )
        return self

    @model_validator(mode="after")
    def _collab_trainable(self) -> RunConfig:
        if self.prompts.collab_tokens and self.llm.full_finetune:
            raise ValueError(
                "prompts.collab_tokens = true needs a LoRA adapter (llm.full_finetune = false): "
                "its projector is trained and saved beside the adapter"
            )
        if self.prompts.collab_tokens and self.rerank.backend == "vllm":
            raise ValueError(
                "prompts.collab_tokens = true needs rerank.backend = 'transformers' "
                "(vllm cannot read the projected vectors)"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self)


def as_dict(section: Any) -> dict[str, Any]:
    """A config (or one of its sections) as plain JSON values, nested settings included."""
    return TypeAdapter(type(section)).dump_python(section, mode="json")


SECTIONS = {
    "data": DataConfig,
    "baselines": BaselineConfig,
    "evaluation": EvaluationConfig,
    "sampling": SamplingConfig,
    "prompts": PromptConfig,
    "llm": LLMConfig,
    "rerank": RerankConfig,
}
NESTED = {"baselines": {"lightgcn": LightGCNConfig, "sasrec": SASRecConfig}}
"""Sub-tables of a section: the settings of one model, read by its own pydantic config."""


def load_profile(name_or_path: str) -> RunConfig:
    """Load a named profile (``smoke``, ``quick``, ``paper``, ``official``) or a TOML file."""
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
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror.lower()})") from None
    return config_from_dict(raw, where=str(path), profile=raw.pop("profile", path.stem))


def config_from_dict(raw: dict[str, Any], *, where: str, profile: str) -> RunConfig:
    """The run config from a profile's tables; any problem is one InputError line naming ``where``."""
    _refuse_unknown(raw, ["seed", "seeds", *SECTIONS], "", where)
    sections = {}
    for key, values in raw.items():
        if key in SECTIONS:
            if not isinstance(values, dict):
                raise InputError(f"{where}: '{key}' must be a table, got {values!r}")
            _refuse_unknown(values, [*_names(SECTIONS[key]), *NESTED.get(key, {})], f"{key}.", where)
            for name, model in NESTED.get(key, {}).items():
                if isinstance(values.get(name), dict):
                    _refuse_unknown(values[name], list(model.model_fields), f"{key}.{name}.", where)
            sections[key] = _build(SECTIONS[key], values, where, key)
    top = {key: raw[key] for key in ("seed", "seeds") if key in raw}
    return _build(RunConfig, {"profile": str(profile), **top, **sections}, where, "")


def _names(section: type) -> list[str]:
    return [field.name for field in dataclasses.fields(section)]


def _refuse_unknown(values: dict, known: list[str], prefix: str, where: str) -> None:
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{prefix}{close[0]}'?" if close else f"known: {', '.join(known)}"
            raise InputError(f"{where}: unknown field '{prefix}{key}' ({hint})")


def _build(cls: type, values: dict[str, Any], where: str, prefix: str) -> Any:
    try:
        return cls(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join([prefix, *map(str, error["loc"])] if prefix else map(str, error["loc"]))
        # pydantic names the tuple our fields hold; a profile writes a TOML list
        message = error["msg"].removeprefix("Value error, ").replace("a valid tuple", "a list")
        if not error["loc"]:  # a rule across fields: its message names them
            raise InputError(f"{where}: {message}") from None
        raise InputError(f"{where}: {name} = {error['input']!r}: {message[0].lower()}{message[1:]}") from None


SCENARIOS = ("direct", "sequential")


def with_domain(config: RunConfig, domain: str) -> RunConfig:
    """``config`` with the dataset's ``domain`` where the profile names none."""
    if config.prompts.domain:
        return config
    return dataclasses.replace(config, prompts=dataclasses.replace(config.prompts, domain=domain))


def with_scenario(config: RunConfig, scenario: str) -> RunConfig:
    """``direct`` leaves the config as it is; ``sequential`` makes SASRec the base model (candidates,
    hints and user embeddings) and shows the history in time order (``prompts.sequential``)."""
    if scenario not in SCENARIOS:
        raise InputError(f"--scenario {scenario}: use one of {', '.join(SCENARIOS)}")
    if scenario == "direct":
        return config
    baselines = config.baselines
    models = baselines.models if "sasrec" in baselines.models else (*baselines.models, "sasrec")
    return dataclasses.replace(
        config,
        baselines=dataclasses.replace(baselines, models=models, primary="sasrec", embedding_model="sasrec"),
        prompts=dataclasses.replace(config.prompts, sequential=True, hint_models=("sasrec",)),
    )
