# syntax=docker/dockerfile:1
# Build: compile TypeScript and the native SQLite driver, then drop dev dependencies.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: compiled JavaScript only, as an unprivileged user, state on a volume.
FROM node:20-bookworm-slim
ENV NODE_ENV=production REGPLANE_DATA_DIR=/data REGPLANE_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY web/dist ./web/dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 50051 8080
# Probes the HTTP port, scheme and guard the server really uses (its flags, REGPLANE_* and the config file).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "dist/cli/main.js", "healthcheck"]
# "docker run IMAGE [flags]" serves; "docker run IMAGE image list --endpoint …" runs the command line.
ENTRYPOINT ["node", "dist/cli/main.js"]
