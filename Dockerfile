# syntax=docker/dockerfile:1.7
# The image of any dsp service, built from the repository root. The service and its port come
# from the service manifest (`python -m shared_contracts.manifest` prints them):
#   docker build --build-arg SERVICE=ml --build-arg HTTP_PORT=8004 -t dsp/ml .
# Only dsp-<service> and its locked dependencies are installed (uv sync --package). The gateway's
# image also carries the web UI, built by a Node.js stage from ui/package-lock.json; the other
# images get an empty UI directory and never build it (BuildKit skips the unused stage).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG NODE_IMAGE=node:20-bookworm-slim
ARG SERVICE

FROM ${UV_IMAGE} AS uv

# The web UI: `npm ci` installs exactly what the lock pins, then tsc checks it and Vite builds ui/dist.
FROM ${NODE_IMAGE} AS ui-build
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/index.html ui/tsconfig.json ui/vite.config.ts ui/tailwind.config.js ui/postcss.config.js ./
COPY ui/src src
RUN npm run build

FROM ${PYTHON_IMAGE} AS ui-none
RUN mkdir -p /ui/dist

# ui-<service> picks what the runtime stage copies: the built UI for the gateway, nothing for the rest.
FROM ui-build AS ui-gateway
FROM ui-none AS ui-ingest
FROM ui-none AS ui-profile
FROM ui-none AS ui-etl
FROM ui-none AS ui-ml
FROM ui-none AS ui-dashboard
# hadolint ignore=DL3006
FROM ui-${SERVICE} AS ui

FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<name of a service>" >&2; exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src

# Third-party dependencies first: this layer is reused until uv.lock or a manifest changes.
# Every library's manifest is copied; --package installs only the ones the service depends on.
COPY pyproject.toml uv.lock ./
COPY libs/shared_contracts/pyproject.toml libs/shared_contracts/
COPY libs/mesh_kit/pyproject.toml libs/mesh_kit/
COPY libs/etl_core/pyproject.toml libs/etl_core/
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "dsp-${SERVICE}"

# Then the workspace packages themselves, installed as wheels (no editable links back to /src).
COPY libs libs
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "dsp-${SERVICE}"

# `dsp-service <command>` runs `python -m dsp_<service> <command>` (exec: signals reach Python).
RUN printf '#!/bin/sh\nexec /opt/venv/bin/python -m dsp_%s "$@"\n' "${SERVICE}" > /opt/venv/bin/dsp-service \
    && chmod 0755 /opt/venv/bin/dsp-service

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG HTTP_PORT=8000
# System libraries a service loads at run time: LightGBM (ml) links against the OpenMP runtime;
# Playwright (dashboard) renders PDFs with Debian's Chromium (executable_path=/usr/bin/chromium)
# and never downloads a browser of its own.
# Debian security updates land in the same version stream, so packages are not pinned.
# hadolint ignore=DL3008,SC2086
RUN case "${SERVICE}" in \
      ml) packages="libgomp1" ;; \
      dashboard) packages="chromium fonts-dejavu-core fonts-liberation" ;; \
      *) packages="" ;; \
    esac \
    && if [ -n "${packages}" ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends ${packages} \
         && rm -rf /var/lib/apt/lists/*; \
       fi
RUN groupadd --system --gid 10001 dsp \
    && useradd --system --uid 10001 --gid dsp --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin dsp \
    && install -d -o dsp -g dsp -m 0750 /var/lib/dsp /var/lib/dsp/artifacts

COPY --from=builder /opt/venv /opt/venv
COPY --from=ui /ui/dist /opt/dsp-ui

# The root filesystem may be mounted read-only: everything that writes goes to /tmp
# or to the artifact volume (numba's and matplotlib's caches too), and bytecode was
# compiled at build time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    DSP_HTTP_HOST=0.0.0.0 \
    DSP_HTTP_PORT=${HTTP_PORT} \
    DSP_ARTIFACT_URL=file:///var/lib/dsp/artifacts \
    DSP_UI_DIR=/opt/dsp-ui \
    NUMBA_CACHE_DIR=/tmp/numba \
    MPLCONFIGDIR=/tmp/matplotlib

USER 10001:10001
WORKDIR /tmp
EXPOSE ${HTTP_PORT}

# The start period covers ml's heavy imports; a service that is up sooner reports healthy sooner.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['DSP_HTTP_PORT'] + '/health/live', timeout=4)"]

ENTRYPOINT ["dsp-service"]
CMD ["serve"]
