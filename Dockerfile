# radotp container image; it mirrors the README's Quick start (npm ci, build, radotp serve). Docker cannot
# run on the machines radotp is developed on, so test/e2e/dockerfile.test.ts builds it without Docker (every
# COPY, the npm RUN, ENV, ENTRYPOINT and CMD) and runs it: radclient is accepted. The base image and the
# apt-get line are the parts no test covers. test/support/dockerfile.ts reads only the instructions used here.

# --- build: install everything, compile TypeScript to dist/ ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci runs `prepare` (the TypeScript build) after install, so the sources must be there first
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY cli ./cli
COPY db ./db
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

# --- run: production dependencies and the compiled code only ---
FROM node:20-bookworm-slim
# libicu for the embedded PostgreSQL binaries' postinstall links is bundled; tini forwards SIGTERM for a graceful stop
RUN apt-get update && apt-get install -y --no-install-recommends tini ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json config.example.yaml ./
COPY bin ./bin
COPY dictionaries ./dictionaries
# Data (embedded PostgreSQL, key file) lives in a volume; set RADOTP_DATABASE_URL to use a PostgreSQL server instead.
RUN mkdir -p /var/lib/radotp && printf 'dataDir: /var/lib/radotp\nhttp:\n  listen: 0.0.0.0:9812\n' > /app/radotp.yaml
VOLUME /var/lib/radotp
ENV RADOTP_CONFIG=/app/radotp.yaml
EXPOSE 1812/udp 9812/tcp
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/radotp.js"]
CMD ["serve"]
