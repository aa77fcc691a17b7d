# syntax=docker/dockerfile:1
# vafa: one image for every role (`vafa ingest`, `vafa scorer`, `vafa migrate`, `vafa simulate`, `vafa up`).
# Build from the repository root: docker build -f docker/vafa.Dockerfile -t vafa:local .
FROM node:22-slim AS deps
WORKDIR /app
# Native modules (chdb, onnxruntime-node) fetch prebuilt binaries; certificates for that, and a toolchain
# for any that must compile.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:22-slim
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    VAFA_DATA_DIR=/data
COPY --from=deps /app/node_modules ./node_modules
COPY --chown=node:node . .
USER node
VOLUME ["/data"]
EXPOSE 8080 8583
# tini forwards SIGTERM so the roles drain and checkpoint before they exit.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=64", "bin/vafa.js"]
CMD ["up"]
