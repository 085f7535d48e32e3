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
    """Conventional recommenders to fit, by name (see BASELINE_MODELS)."""
    primary: str = "implicitmf"
    """The base model whose candidates and hints feed the LLM stages."""
    embedding_model: str = "implicitmf"
    """The ALS model (implicitmf or biasedmf) whose user embeddings are stored for clustering-based sampling."""
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

    def check(self, where: str) -> None:
        for name in (*self.models, self.primary, self.embedding_model):
            if name not in BASELINE_MODELS:
                raise InputError(
                    f"{where}: baselines: unknown model '{name}' (known: {', '.join(BASELINE_MODELS)})"
                )
        for name, role in ((self.primary, "primary"), (self.embedding_model, "embedding_model")):
            if name not in self.models:
                raise InputError(f"{where}: baselines.{role} = '{name}' is not in baselines.models")
        if self.embedding_model not in ("implicitmf", "biasedmf"):
            raise InputError(
                f"{where}: baselines.embedding_model = '{self.embedding_model}' has no user embeddings"
            )
        if self.n_candidates < 1:
            raise InputError(f"{where}: baselines.n_candidates = {self.n_candidates} must be positive")


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


@dataclass(frozen=True)
class RunConfig:
    profile: str = "quick"
    """Name of the profile this configuration came from."""
    seed: int = 42
    """Seed for every random choice of the run."""
    data: DataConfig = field(default_factory=DataConfig)
    """How ratings become likes, dislikes and the leave-one-out split."""
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    """The conventional recommenders and their candidate lists."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Metrics and confidence intervals."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {"data": DataConfig, "baselines": BaselineConfig, "evaluation": EvaluationConfig}


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
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SECTIONS:
            raise InputError(f"{where}: unknown field '{key}' (known: profile, seed, {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise InputError(f"{where}: '{key}' must be a table, got {value!r}")
        sections[key] = _section(SECTIONS[key], value, where, key)
    config = RunConfig(profile=str(profile), seed=seed, **sections)
    for section in (config.data, config.baselines, config.evaluation):
        section.check(where)
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
