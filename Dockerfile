# The runbook worker. TypeScript runs through tsx (a runtime dependency) and the workflow bundle is
# built when the worker starts, so there is no compile step.
# storectl (tools/storectl): the helper through which the LevelDB/Pebble runbook asks the real
# goleveldb and Pebble engines, built from its pinned go.sum in a stage of its own. The same stage
# builds the real bbolt CLI at the pinned tag (scripts/setup.cjs pins the same one): the etcd
# runbook's referee (`bbolt check`) and surgeon (`bbolt surgery …`, on copies).
FROM golang:1.25-bookworm AS storectl
WORKDIR /src
# bbolt first: a change to storectl's sources does not rebuild it.
RUN CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=/out go install -trimpath -ldflags '-s -w' go.etcd.io/bbolt/cmd/bbolt@v1.4.3
COPY tools/storectl/ ./
RUN CGO_ENABLED=0 GOFLAGS='-mod=readonly -buildvcs=false' go build -trimpath -o /storectl .

FROM node:20-bookworm-slim

# Programs the runbook activities shell out to.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git git-lfs sqlite3 etcd-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so a source change does not reinstall them. The Temporal native binary ships
# inside @temporalio/core-bridge for linux x64/arm64 glibc, so nothing is downloaded or compiled.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY --from=storectl /storectl /usr/local/bin/storectl
ENV STORECTL=/usr/local/bin/storectl
COPY --from=storectl /out/bbolt /usr/local/bin/bbolt
ENV BBOLT_CLI=/usr/local/bin/bbolt

COPY tsconfig.json ./
COPY src/ src/
COPY demo/ demo/
# var/ is where the demo service keeps its pidfile and log; the worker runs unprivileged.
RUN mkdir -p var && chown node:node var

USER node
# Prometheus metrics (RUNBOOK_METRICS_ADDRESS).
EXPOSE 9464
CMD ["node", "--import", "tsx", "src/worker.ts"]
