# syntax=docker/dockerfile:1
#
# One image for every role; choose the role by overriding the command:
#   edge (default)  node services/edge/dist/main.js
#   ingest          node services/ingest/dist/main.js
#   single-node     node services/single-node/dist/main.js
# The Helm chart (deploy/helm/events-proxy) sets the command of each tier.
#
#   docker build -t events-proxy .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e REDIS_URL=redis://host:6379 events-proxy
#
# The workspace list is read from package.json, so a new workspace needs no change here.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- manifests: package.json of the root and of every workspace, plus the lockfile ----------
# Only these files reach the next stages before `npm ci`, so the dependency layers stay cached
# until a manifest or the lockfile changes.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
    && cp package.json package-lock.json /manifests/ \
    && if [ -f .npmrc ]; then cp .npmrc /manifests/; fi \
    && for ws in $(node -p "require('./package.json').workspaces.join(' ')"); do \
         mkdir -p "/manifests/$ws" && cp "$ws/package.json" "/manifests/$ws/package.json"; \
       done

# ---- build: every dependency, then compile each workspace to its dist/ ----------------------
# The edge's inspector page (static files, no build step) goes beside its dist/, where the edge
# looks for it (services/edge/src/inspector.ts).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
    && for ws in $(node -p "require('./package.json').workspaces.join(' ')"); do \
         if [ -d "$ws/dist" ]; then mkdir -p "/out/$ws" && cp -R "$ws/dist" "/out/$ws/dist"; fi; \
       done \
    && cp -R services/edge/inspector /out/services/edge/inspector

# ---- production: runtime dependencies, manifests and compiled output only -------------------
FROM ${NODE_IMAGE} AS production
ENV NODE_ENV=production
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /out/ ./

# The base image's unprivileged user (uid 1000, gid 1000). Files stay owned by root, so the
# process cannot modify its own code; the chart also mounts the root filesystem read-only.
USER node

# 8080: edge HTTP (PORT); 9090: /metrics, /healthz, /readyz (METRICS_PORT).
EXPOSE 8080 9090

# For plain Docker / Compose; Kubernetes uses the chart's probes instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.METRICS_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "services/edge/dist/main.js"]
