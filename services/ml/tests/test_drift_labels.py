"""ml's drift gauges keep a bounded set of feature labels: the rest fold into ``other`` at their largest value."""

from __future__ import annotations

import pytest
from dsp_ml.entrypoints import http
from mesh_kit.metrics import OTHER, BoundedLabel


def test_features_past_the_bound_fold_into_other_at_their_largest_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_feature_label", BoundedLabel(2))
    drift = [{"feature": "a", "psi": 0.1, "ks_statistic": 0.2}, {"feature": "b", "psi": 0.3, "ks_statistic": None},
             {"feature": "c", "psi": 0.05, "ks_statistic": 0.4}, {"feature": "d", "psi": 0.9, "ks_statistic": 0.1}]
    values = http._drift_by_label(drift)
    assert values[http.DRIFT_PSI] == {"a": 0.1, "b": 0.3, OTHER: 0.9}
    assert values[http.DRIFT_KS] == {"a": 0.2, OTHER: 0.4}
