# llamacloud-notifier: the daemon in a slim, non-root container.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY deploy/constraints.txt ./deploy/constraints.txt
COPY notifier ./notifier
RUN python -m venv /opt/notifier \
    && /opt/notifier/bin/pip install -c deploy/constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin notifier \
    && mkdir -p /data /etc/notifier && chown notifier /data
COPY --from=build /opt/notifier /opt/notifier
COPY config/notifier.example.yaml /etc/notifier/notifier.yaml
ENV PATH=/opt/notifier/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NOTIFIER_CONFIG=/etc/notifier/notifier.yaml \
    NOTIFIER_STORE__PATH=/data/notifier.db \
    NOTIFIER_HTTP__LISTEN=0.0.0.0:8080
USER notifier
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import os, urllib.request; port = os.environ.get('NOTIFIER_HTTP__LISTEN', ':8080').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"
ENTRYPOINT ["notifier"]
CMD ["run"]
