# syntax=docker/dockerfile:1
# YkMake service image: `docker compose up` builds it; see docs/stack.md.

# --- build: resolve the locked dependencies into /app/.venv with uv -------------------------
FROM python:3.11-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
# Byte-compile at build time (faster start), copy rather than hard-link out of uv's cache mount,
# and use the image's Python instead of downloading one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY src ./src
# Install the project itself, not as an editable link to /src (which the runtime image lacks).
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# --- runtime: just Python and the virtualenv, as an unprivileged user ---------------------
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 ykmake \
    && useradd --system --uid 10001 --gid ykmake --home-dir /app --no-create-home ykmake \
    && mkdir -p /app/logs /app/.ykmake \
    && chown -R ykmake:ykmake /app
COPY --from=build --chown=ykmake:ykmake /app/.venv /app/.venv
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    YKMAKE_ENV=production \
    LOG_TO_STDOUT=true
USER ykmake
EXPOSE 8000
# Slim images have no curl: probe /health with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5).status == 200 else 1)"]
CMD ["ykmake", "serve", "--host", "0.0.0.0", "--port", "8000"]
