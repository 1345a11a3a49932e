"""The one-call API: ``reloop.fit(frame, features, ...)`` and ``reloop.predict(model, frame)``."""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from reloop.atomic import atomic_path
from reloop.features import FeatureMap
from reloop.losses import LossSpec, resolve_loss
from reloop.models import CTRModel, ModelName, build_model
from reloop.schema import ModelSpec, TrainSpec
from reloop.train import (
    PREDICT_BATCH,
    TrainConfig,
    TrainData,
    TrainHistory,
    predict_proba,
    predict_slates,
)
from reloop.train import train as run_training

__all__ = ["FittedModel", "fit", "load", "predict"]

YLast = str | np.ndarray | torch.Tensor | pl.Series | None


@dataclass
class FittedModel:
    """A trained backbone with the feature map that encodes its inputs."""

    model: CTRModel
    feature_map: FeatureMap
    model_name: ModelName  # a registered name or a _target_ mapping
    model_options: dict[str, Any]
    label: str = "click"
    history: TrainHistory = field(default_factory=TrainHistory)

    @property
    def features(self) -> tuple[str, ...]:
        return self.feature_map.feature_names

    def predict(self, frame: pl.DataFrame, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        return predict_proba(self.model, self.feature_map.transform(frame), batch_size)

    def predict_slates(
        self,
        requests: pl.DataFrame,
        slots: pl.DataFrame,
        n_slots: int,
        batch_size: int = PREDICT_BATCH,
    ) -> np.ndarray:
        """Probabilities ``[R, n_slots]`` for ``R`` requests of ``n_slots`` slots each:
        ``requests`` holds the request-level features (one row per request), ``slots`` the
        per-slot ones (one row per slot, request-major). Equal to ``predict`` on the joined
        rows, faster because request-level work is done once per request."""
        slates = self.feature_map.transform_slates(requests, slots, n_slots)
        return predict_slates(self.model, slates, batch_size)

    def has_finite_weights(self) -> bool:
        """False once training has produced a NaN or infinite parameter (a diverged model)."""
        return all(bool(torch.isfinite(w).all()) for w in self.model.parameters())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, architecture and feature map to ``path`` atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model_name": self.model_name,
            "model_options": self.model_options,
            "feature_map": self.feature_map.to_dict(),
            "label": self.label,
            "state_dict": self.model.state_dict(),
        }
        # Into memory first: saved to a path, torch names the archive's root folder after the
        # (random) temp file, so identical models would differ in bytes.
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FittedModel:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        feature_map = FeatureMap.from_dict(payload["feature_map"])
        model = build_model(payload["model_name"], feature_map.schema, **payload["model_options"])
        model.load_state_dict(payload["state_dict"])
        model.eval()
        return cls(
            model, feature_map, payload["model_name"], payload["model_options"], payload["label"]
        )


def load(path: str | os.PathLike[str]) -> FittedModel:
    """Load a model written by ``FittedModel.save``."""
    return FittedModel.load(path)


def _model_spec(model: ModelSpec | ModelName) -> ModelSpec:
    """``model`` as a ``ModelSpec``: a backbone's name or a _target_ mapping gets the defaults."""
    if isinstance(model, ModelSpec):
        return model
    return ModelSpec(name=model if isinstance(model, str) else dict(model))


def fit(
    frame: pl.DataFrame,
    features: Sequence[str],
    *,
    label: str = "click",
    model: ModelSpec | ModelName = "deepfm",
    train: TrainSpec | None = None,
    loss: LossSpec = "bce",
    alpha: float = 0.5,
    y_last: YLast = None,
    seed: int = 0,
    warm_start: FittedModel | str | os.PathLike[str] | None = None,
    valid: pl.DataFrame | None = None,
    progress: bool = False,
) -> FittedModel:
    """Train a CTR model on ``frame`` with BCE, ReLoop or KD loss, or your own (``loss``: a
    callable or a ``_target_`` mapping, see ``reloop.losses``).

    ``features`` are column names, categorical unless their dtype is float. ``model`` is the
    architecture (a ``reloop.ModelSpec``, or a backbone's name or ``_target_`` mapping with its
    default sizes), ``train`` how it trains (``reloop.TrainSpec``: epochs, batch size, learning
    rate, optimizer...; default ``TrainSpec()``). ``y_last`` is the previous version's pCTR per
    row (a column name or an array), needed by ``reloop`` and ``kd``. ``warm_start`` (a
    ``FittedModel`` or a saved path) continues from its weights and architecture (``model`` is
    then taken from it); its vocabularies grow with the values new in ``frame``. With ``valid``,
    training early-stops on the validation AUC (``train.patience`` epochs) and keeps the best.
    """
    spec = _model_spec(model)
    settings = TrainSpec() if train is None else train
    config = TrainConfig(resolve_loss(loss), float(alpha), int(seed), progress, settings)
    config.validate()
    if isinstance(warm_start, (str, os.PathLike)):
        warm_start = FittedModel.load(warm_start)
    torch.manual_seed(seed)  # model initialisation
    if warm_start is None:
        feature_map = FeatureMap.fit(frame, features, numeric_mode=settings.numeric_mode)  # type: ignore[arg-type]
        options = {
            "embedding_dim": spec.embedding_dim,
            "hidden_units": tuple(spec.hidden_units),
            "dropout": spec.dropout,
            **spec.options,
        }
        network = build_model(spec.name, feature_map.schema, **options)
        model_name: ModelName = spec.name
    else:
        if tuple(features) != warm_start.features:
            raise ValueError(
                f"warm start was trained on features {list(warm_start.features)}, "
                f"got {list(features)}"
            )
        feature_map = warm_start.feature_map.extend(frame)
        network = copy.deepcopy(warm_start.model)
        network.grow_vocabulary(feature_map.schema)
        options, model_name = dict(warm_start.model_options), warm_start.model_name
    data = _train_data(frame, feature_map, label, _resolve_y_last(frame, y_last, config))
    valid_data = None if valid is None else _train_data(valid, feature_map, label, None)
    history = run_training(network, data, config, valid_data)
    return FittedModel(network, feature_map, model_name, options, label, history)


def predict(model: FittedModel, frame: pl.DataFrame, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Click probabilities (float32) of ``model`` for every row of ``frame``."""
    return model.predict(frame, batch_size)


def _labels(frame: pl.DataFrame, label: str) -> torch.Tensor:
    if label not in frame.columns:
        raise ValueError(f"missing label column {label!r}")
    column = frame.get_column(label)
    if column.null_count():
        raise ValueError(f"label column {label!r} has null values")
    values = column.cast(pl.Float32).to_numpy()
    if np.isnan(values).any():
        raise ValueError(f"label column {label!r} has NaN values")
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"label column {label!r} must hold only 0 and 1")
    return torch.from_numpy(values.copy())


def _resolve_y_last(frame: pl.DataFrame, y_last: YLast, config: TrainConfig) -> torch.Tensor | None:
    if y_last is None:
        if isinstance(config.loss, str) and config.loss != "bce" and config.alpha > 0:
            raise ValueError(f"loss {config.loss!r} needs y_last (a column name or an array)")
        return None
    if isinstance(y_last, str):
        if y_last not in frame.columns:
            raise ValueError(f"missing y_last column {y_last!r}")
        y_last = frame.get_column(y_last)
    if isinstance(y_last, pl.Series):
        y_last = y_last.cast(pl.Float32).fill_null(float("nan")).to_numpy()
    values = torch.tensor(np.asarray(y_last, dtype=np.float32)).reshape(-1)
    if values.shape[0] != frame.height:
        raise ValueError(f"y_last has {values.shape[0]} values for {frame.height} rows")
    if torch.isnan(values).any():
        raise ValueError("y_last contains NaN")
    if (values < 0).any() or (values > 1).any():
        raise ValueError("y_last must lie in [0, 1]")
    return values


def _train_data(
    frame: pl.DataFrame, feature_map: FeatureMap, label: str, y_last: torch.Tensor | None
) -> TrainData:
    return TrainData(feature_map.transform(frame), _labels(frame, label), y_last)
