# Spark Control's StartOS image (manifest image `main`).
#
# start-cli builds it once per architecture the manifest declares, x86_64 and aarch64, with
#   --platform=linux/amd64 --build-arg ARCH=x86_64   and   --platform=linux/arm64 --build-arg ARCH=aarch64
# By hand: docker buildx build --platform linux/arm64 --build-arg ARCH=aarch64 .
#
# Python dependencies come only from requirements.lock (hash-pinned, universal; regenerate it
# with scripts/lock_requirements.sh) and only as wheels, so no compiler is ever needed. The app
# runs as the unprivileged user `sparkctl`; StartOS mounts the data volume at /data.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- dependencies: a virtualenv holding exactly the locked wheels --------------------------
FROM ${PYTHON_IMAGE} AS deps
ARG ARCH
# Refuse a build whose --platform and ARCH disagree (the image would be labelled wrongly).
RUN case "${ARCH:-$(uname -m)}:$(uname -m)" in \
      x86_64:x86_64|aarch64:aarch64) ;; \
      *) echo "ARCH=${ARCH} but this stage runs on $(uname -m)" >&2; exit 1 ;; \
    esac
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# ---- runtime -------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG ARCH
LABEL org.opencontainers.image.title="Spark Control" \
      org.opencontainers.image.source="https://github.com/spark-control/spark-control" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 1000 sparkctl \
 && useradd --system --uid 1000 --gid sparkctl --home-dir /home/sparkctl --create-home \
      --shell /usr/sbin/nologin sparkctl \
 && mkdir -p /data \
 && chown sparkctl:sparkctl /data

COPY --from=deps /opt/venv /opt/venv
COPY app /opt/spark-control/app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/spark-control \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SPARK_CONTROL_CONFIG=/data/config.yaml

WORKDIR /opt/spark-control
# Byte-compile as root (the app's files stay read-only to it) and fail the build on a broken import.
RUN python -m compileall -q app \
 && python -c "import app.config, app.web"

USER sparkctl
EXPOSE 9999
CMD ["python", "-m", "app", "--config", "/data/config.yaml", "--host", "0.0.0.0", "--port", "9999"]
