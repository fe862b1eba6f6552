"""The ML core: task detection, statistics, patterns, forecasting, AutoML with explanations, insights.

Pure code: a file in, an ``AnalysisResult`` out. No broker, database or web imports.

The package imports lazily: ``from dsp_ml.domain import analyze`` loads the core (scipy, scikit-learn, pandas:
seconds of CPU) on first use, not when the service starts, so that a restarted worker attaches its consumer
first. ``load`` imports the core and the libraries an analysis runs on (AutoGluon, SHAP, LightGBM...) once, for
the process's life; the service calls it in the background once it consumes, and before each analysis (at once
when loaded).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

from .errors import AnalysisError

if TYPE_CHECKING:
    from .analyze import analyze
    from .registry import TrainedModel, load_model, predict

__all__ = ["AnalysisError", "TrainedModel", "analyze", "load", "load_model", "loaded", "predict"]

_LAZY = {"analyze": ".analyze", "TrainedModel": ".registry", "load_model": ".registry", "predict": ".registry"}
HEAVY_MODULES = ("autogluon.tabular", "autogluon.core.callbacks", "shap", "lightgbm", "sklearn.metrics",
                 "sklearn.model_selection", "sklearn.ensemble", "statsforecast")
"""Imported by ``load`` after the core, as an analysis would on its first use (those missing are left out)."""
_lock = threading.Lock()
_loaded = threading.Event()


def load() -> None:
    """Import the analysis core and ``HEAVY_MODULES`` once (thread-safe: a second caller waits for the first)."""
    if _loaded.is_set():
        return
    with _lock:
        if _loaded.is_set():
            return
        for name in _LAZY:
            __getattr__(name)
        from . import automl, cancel_callback, compare, drift, explain  # noqa: F401 - the rest of the core
        for module in HEAVY_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        _loaded.set()


def loaded() -> bool:
    """Whether ``load`` has finished."""
    return _loaded.is_set()


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


class _Domain(types.ModuleType):
    """The package's module: the function ``analyze`` keeps its name when the submodule ``analyze`` is imported
    (the import system sets each submodule as an attribute of its package)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "analyze" and isinstance(value, types.ModuleType):
            value = value.analyze
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Domain
