"""Everything the gateway's entrypoints reach beyond themselves, in one object.

The routes (``entrypoints``), the deletion and retention use cases and the start-up see the database, the
progress notifier, the rate limiter, ml's predictions and the artifact store only through ``GatewayPorts``.
``bootstrap`` builds it from a mesh service's Runtime (Postgres with its outbox relay, Redis, HTTP to ml);
another composition root builds it from other adapters of the same ports (an embedded database, an
in-process bus and notifier, ml's use case called directly).
"""

from __future__ import annotations

import abc
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from mesh_kit.artifacts import ArtifactStore, AsyncArtifactStore
from mesh_kit.ports import UnitOfWork
from starlette.requests import HTTPConnection

from .adapters.deletions import GatewayRepository
from .adapters.identity import IdentityRepository
from .adapters.limits import Limiter
from .adapters.notifier import JobNotifier
from .adapters.predictor import Predictor
from .service_layer.identity import IdentityConfig, PrincipalCache
from .settings import GatewaySettings

__all__ = ["GatewayPorts", "GatewayStorage", "UnstorableValue", "ports_of"]


class UnstorableValue(ValueError):
    """Raised by a storage session when a value the client sent cannot be stored or looked up at all (a NUL
    character in a text, which PostgreSQL's text and jsonb cannot hold): the request is refused, nothing is
    written."""


class GatewayStorage(abc.ABC):
    """Port: the gateway's database, as sessions that yield its repositories."""

    @abc.abstractmethod
    def read(self) -> AbstractAsyncContextManager[GatewayRepository]:
        """A session for reads (it commits nothing the caller did not write)."""

    @abc.abstractmethod
    def write(self, job_id: uuid.UUID) -> AbstractAsyncContextManager[UnitOfWork[GatewayRepository]]:
        """One transaction: the read model and deletions through ``uow.repo``, and the events of job ``job_id``
        queued with ``uow.emit`` in it; they are published after the commit, never when the block raises."""

    @abc.abstractmethod
    def identity(self) -> AbstractAsyncContextManager[IdentityRepository]:
        """One transaction over the identity repository (users, tokens, API keys, the audit log).

        Each session raises ``UnstorableValue`` for a value its database cannot hold."""

    def authentication(self) -> AbstractAsyncContextManager[IdentityRepository]:
        """A session over the identity repository for authenticating one request, whose statements each stand
        alone (the user's lookup, an API key's lookup and the record of its use); by default a transaction."""
        return self.identity()


@dataclass
class GatewayPorts:
    """The gateway's adapters, as its entrypoints see them."""

    storage: GatewayStorage
    store: ArtifactStore
    notifier: JobNotifier
    limiter: Limiter
    predictor: Predictor
    identity: IdentityConfig
    options: GatewaySettings
    max_upload_bytes: int
    principals: PrincipalCache = field(init=False, repr=False)
    """Who each recent credential authenticated as, for ``DSP_AUTH_CACHE_S`` (``identity.PrincipalCache``)."""

    def __post_init__(self) -> None:
        self.principals = PrincipalCache(self.options.auth_cache_s)

    @property
    def async_store(self) -> AsyncArtifactStore:
        """The artifact store with every call off the event loop (an S3 read must not stall the other requests)."""
        return AsyncArtifactStore(self.store)


def ports_of(connection: HTTPConnection) -> GatewayPorts:
    """The ports of the app serving this request: set on the app by ``dsp_gateway.app``, or by the mesh
    service's start-up in its Runtime."""
    state = connection.app.state
    ports: GatewayPorts | None = getattr(state, "gateway", None)
    if ports is None:
        ports = state.runtime.extras["gateway"]
    return ports
