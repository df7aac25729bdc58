# syntax=docker/dockerfile:1
# oih-cds: CDS Hooks 2.0 service. Multi-stage build:
#   build   - create a virtualenv, install the pinned dependencies from requirements.lock, then the project
#   runtime - copy only the virtualenv onto a clean slim base; non-root uid 10001; read-only rootfs friendly
#
#   docker build -t oih-cds:dev --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm -p 8080:8080 --read-only --tmpfs /tmp \
#       -e OIH_PUBLIC_BASE_URL=https://cds.example.org -e OIH_TRUSTED_ISSUERS_FILE=... oih-cds:dev

############################
# build stage
############################
FROM python:3.11-slim-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src

RUN python -m venv /opt/venv

# Dependencies first (exact pins, cached as their own layer), then the project itself without deps,
# so nothing unpinned can enter the image; `pip check` fails the build on an inconsistent lock.
COPY requirements.lock ./
RUN pip install --no-cache-dir --requirement requirements.lock

COPY pyproject.toml README.md ./
COPY cds_hooks/ cds_hooks/
COPY rules/ rules/
COPY service/ service/
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && python -m compileall -q /opt/venv/lib \
    && pip uninstall --yes pip setuptools

############################
# runtime stage
############################
FROM python:3.11-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="oih-cds" \
      org.opencontainers.image.description="CDS Hooks 2.0 service: rising opioid doses with rising pain (possible opioid-induced hyperalgesia)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# Secure defaults; the Helm chart sets the same explicitly. OIH_PUBLIC_BASE_URL must be provided.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/var/lib/oih-cds \
    OIH_ENVIRONMENT=production \
    OIH_AUTH_MODE=required \
    OIH_SANDBOX_ENABLED=false \
    OIH_OTEL_ENABLED=false \
    OIH_DATA_DIR=/var/lib/oih-cds

# Fixed uid/gid 10001 (matches the chart's securityContext). No login shell, no home outside the volume.
RUN groupadd --gid 10001 oih \
    && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/oih-cds \
        --shell /usr/sbin/nologin oih \
    && mkdir -p /var/lib/oih-cds \
    && chown 10001:10001 /var/lib/oih-cds \
    && chmod 0750 /var/lib/oih-cds

COPY --from=build /opt/venv /opt/venv

# The only writable path (SQLite default database, runtime state); /tmp is a tmpfs/emptyDir at runtime.
VOLUME ["/var/lib/oih-cds"]
WORKDIR /var/lib/oih-cds
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["oih-cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
