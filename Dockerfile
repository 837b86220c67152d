# llamacloud-notifier: the daemon in a slim, non-root container.
# BASE_IMAGE: any Debian-like image whose `python` is CPython 3.11. A mirror passes its own copy
# (--build-arg BASE_IMAGE=registry.example.com/python:3.11-slim); deploy/image-test.sh builds a
# bookworm one with mmdebstrap where Docker Hub is out of reach. The build args below only fill
# the OCI labels.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY deploy/constraints.txt ./deploy/constraints.txt
COPY notifier ./notifier
# The runtime venv keeps what runs, not what installed it: pip and setuptools leave once done
# (sqlite-utils names pip only for its own `sqlite-utils install` command).
RUN python -m venv /opt/notifier \
    && /opt/notifier/bin/pip install -c deploy/constraints.txt . \
    && /opt/notifier/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="llamacloud-notifier" \
      org.opencontainers.image.description="Watches LlamaCloud extract and parse jobs and notifies webhooks, Slack, email and any apprise target when a job changes status." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# uid and gid 10001: what Kubernetes' runAsUser, runAsGroup and fsGroup say.
RUN groupadd --gid 10001 notifier \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin notifier \
    && mkdir -p /data /etc/notifier && chown 10001:10001 /data
COPY --from=build /opt/notifier /opt/notifier
COPY config/notifier.example.yaml /etc/notifier/notifier.yaml
ENV PATH=/opt/notifier/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NOTIFIER_CONFIG=/etc/notifier/notifier.yaml \
    NOTIFIER_STORE__PATH=/data/notifier.db \
    NOTIFIER_HTTP__LISTEN=0.0.0.0:8080
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import os, urllib.request; port = os.environ.get('NOTIFIER_HTTP__LISTEN', ':8080').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"
ENTRYPOINT ["notifier"]
CMD ["run"]
