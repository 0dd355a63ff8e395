# Comptoir's image: the wheel built once in a build stage, installed with the tested versions
# (constraints.txt) into a slim runtime that runs as an unprivileged user.
#   docker build -t comptoir .
#   docker run comptoir web | worker | <any comptoir command>     (see deploy/entrypoint.sh)
# compose.yaml runs it with PostgreSQL, Redis and Caddy; docs/deploy.md explains.

FROM python:3.13-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build
COPY pyproject.toml README.md LICENSE constraints.txt ./
COPY src ./src
# One wheel for Comptoir, then wheels for its dependencies at the pinned versions.
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt "$(echo /wheels/comptoir-*.whl)[s3]"

FROM python:3.13-slim
# pg_dump for `comptoir backup` on PostgreSQL; nothing else beyond Python.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/comptoir --create-home comptoir
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt "comptoir[s3]" \
 && rm -rf /wheels /tmp/constraints.txt
COPY deploy/entrypoint.sh /usr/local/bin/comptoir-entrypoint
ENV COMPTOIR_DATA_DIR=/var/lib/comptoir \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER comptoir
WORKDIR /var/lib/comptoir
VOLUME /var/lib/comptoir
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
ENTRYPOINT ["comptoir-entrypoint"]
CMD ["web"]
