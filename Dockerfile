# syntax=docker/dockerfile:1
# One build, three images (docker build --target <name>):
#   server   (default)  ghcr.io/cachalot/cachalot-server     what a CacheCluster's StatefulSet runs
#   sidecar             ghcr.io/cachalot/cachalot-sidecar    the ring-following proxy beside applications
#   operator            ghcr.io/cachalot/cachalot-operator   what the Helm chart deploys
# Images use the current Node LTS; the code also runs on Node 20 (the development machines).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY server ./server
COPY operator ./operator
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Runs as the image's unprivileged "node" user; the flash tier directory is a mounted volume.
USER node

FROM runtime AS operator
EXPOSE 8080
ENTRYPOINT ["node", "dist/operator/src/main.js"]

FROM runtime AS sidecar
# Applications talk to it on localhost; only loopback is needed.
EXPOSE 11211 9151
ENTRYPOINT ["node", "dist/server/src/sidecar/main.js"]

FROM runtime AS server
# In a pod the server must listen on the pod IP, not the loopback default of a laptop run; flags given by
# the operator (-p, -m, -t, -I, -o ext_path=...) come after and win over this environment default.
ENV CACHALOT_LISTEN=0.0.0.0
EXPOSE 11211 9150
ENTRYPOINT ["node", "dist/server/src/cache/main.js"]
