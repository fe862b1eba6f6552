"""Predictions with a registered model: the port, over HTTP to ml's internal route, or over a callable.

Either way the answer is ml's: its status and its JSON body (an error is ``{"error": {code, message, field}}``).
"""

from __future__ import annotations

import abc
import logging
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

__all__ = ["CallablePredictor", "HttpPredictor", "Prediction", "PredictFn", "Predictor", "PredictorUnavailable"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """ml's answer to one prediction request."""

    status: int
    body: dict[str, Any]


class PredictorUnavailable(Exception):
    """ml did not answer (down, or timed out), or its answer was not a JSON object."""


class Predictor(abc.ABC):
    """Port: predict with the model ``model_id`` on rows sent as JSON or CSV (``content_type``); ``strict``
    refuses columns the model does not take."""

    @abc.abstractmethod
    async def predict(self, model_id: uuid.UUID, *, content_type: str, body: bytes, explain: bool,
                      request_id: str, strict: bool = False) -> Prediction:
        """ml's answer; raises ``PredictorUnavailable`` when it gave none (or none in JSON)."""


def _params(*, explain: bool, strict: bool) -> dict[str, str] | None:
    params = {name: "true" for name, on in (("explain", explain), ("strict", strict)) if on}
    return params or None


class HttpPredictor(Predictor):
    """POST to ml's ``/internal/v1/models/{id}/predict``, with the headers that admit the gateway."""

    def __init__(self, ml_url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float = 120) -> None:
        self.ml_url = ml_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s

    async def predict(self, model_id: uuid.UUID, *, content_type: str, body: bytes, explain: bool,
                      request_id: str, strict: bool = False) -> Prediction:
        url = f"{self.ml_url}/internal/v1/models/{model_id}/predict"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                upstream = await client.post(url, content=body, params=_params(explain=explain, strict=strict),
                                             headers={"content-type": content_type, "x-request-id": request_id,
                                                      **self.headers})
        except httpx.HTTPError as exc:
            log.warning("the ml service did not answer a prediction: %r", exc)
            raise PredictorUnavailable("The ml service did not answer; try again in a moment.") from exc
        try:
            payload = upstream.json()
        except ValueError:  # not JSON: an error page, or a proxy's
            payload = None
        if not isinstance(payload, dict):
            log.warning("the ml service answered a prediction with %s and no JSON object (%s)", upstream.status_code,
                        upstream.headers.get("content-type", "no content type"))
            raise PredictorUnavailable("The ml service gave no usable answer; try again in a moment.")
        return Prediction(upstream.status_code, payload)


class PredictFn(Protocol):
    """ml's predict use case called in process: the (status, JSON body) its internal route would answer."""

    def __call__(self, model_id: uuid.UUID, body: bytes, content_type: str, *,
                 explain: bool, strict: bool = False) -> Awaitable[tuple[int, dict[str, Any]]]: ...


class CallablePredictor(Predictor):
    """ml's predict use case in the same process (``dsp serve``): no HTTP, no service token."""

    def __init__(self, predict: PredictFn) -> None:
        self._predict = predict

    async def predict(self, model_id: uuid.UUID, *, content_type: str, body: bytes, explain: bool,
                      request_id: str, strict: bool = False) -> Prediction:
        status, payload = await self._predict(model_id, body, content_type, explain=explain, strict=strict)
        return Prediction(status, payload)
