# lmp-billing: one image for every processor and the read API; each container runs one
# (`lmp-billing process NAME`, `lmp-billing api`). Kafka and MongoDB run as their own images (see
# docker-compose.yml), so there is no JDK here.

# --- build: the project as a wheel (no dev extras) -------------------------------------
# Base images pinned to a release (the registry's digests are not reachable from where
# this file was written; add `@sha256:…` where your registry gives one).
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# README.md is the project's `readme` in pyproject.toml: the build needs it.
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY services/ services/
# The development tooling (tooling/: embedded servers, `up`, the demo) stays out of the image.
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm

# settings.topics_file and settings.home default to paths beside the `services` package,
# which with a non-editable install is site-packages: point them at /app instead.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LMP_TOPICS_FILE=/app/topics.yaml \
    LMP_HOME=/app/.lmp

# A non-root user owning /app: faust writes its (empty, in-memory tables) data directory
# under LMP_HOME.
RUN groupadd --system --gid 10001 lmp \
    && useradd --system --uid 10001 --gid lmp --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin lmp \
    && mkdir -p /app/.lmp \
    && chown -R lmp:lmp /app

# Third-party dependencies first, every one pinned by version and hash
# (requirements/prod.lock, `make lock`), so that a code change does not reinstall them.
COPY requirements/prod.lock /tmp/prod.lock
RUN pip install --require-hashes -r /tmp/prod.lock && rm /tmp/prod.lock

# The project itself (services, schemas and the `lmp-billing` command).
COPY --from=build /wheels/ /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && pip check

COPY topics.yaml /app/topics.yaml

WORKDIR /app
USER lmp

ENTRYPOINT ["lmp-billing"]
CMD ["--help"]
