# syntax=docker/dockerfile:1
# One build, three images (docker build --target <name> -t <image> .); no registry publishes them, so the
# names below are the defaults the CRD, the chart and the examples use (README: "Quickstart on kind"):
#   server   (default)  cachalot/cachalot-server:0.1.0     what a CacheCluster's StatefulSet runs
#   sidecar             cachalot/cachalot-sidecar:0.1.0    the ring-following proxy beside applications
#   operator            cachalot/cachalot-operator:0.1.0   what the Helm chart deploys
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
# The image's unprivileged "node" user, by number: the kubelet can enforce runAsNonRoot only on a numeric
# user. The operator's pods run as 1000:1000 with fsGroup 1000; the flash tier directory is a mounted volume.
USER 1000:1000

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
