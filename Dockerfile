# The dbmig worker. Build: docker build -t dbmig-worker .   Run: see docker-compose.yml.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY common common
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY client client
COPY cli cli
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# pg_dump 15 for the local platform's schema copy; tini reaps children and forwards signals.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
ENV NODE_ENV=production \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_TASK_QUEUE=db-migrations \
    DBMIG_METRICS_ADDRESS=0.0.0.0:9464 \
    DBMIG_STATE_DIR=/var/lib/dbmig
RUN mkdir -p /var/lib/dbmig && chown node:node /var/lib/dbmig
USER node
EXPOSE 9464
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/dbmig.js"]
CMD ["worker"]
