"""The ML core: task detection, statistics, patterns, forecasting, AutoML with explanations, insights.

Pure code: a file in, an ``AnalysisResult`` out. No broker, database or web imports.
"""

from .analyze import analyze
from .errors import AnalysisError
from .registry import TrainedModel, load_model, predict

__all__ = ["AnalysisError", "TrainedModel", "analyze", "load_model", "predict"]
