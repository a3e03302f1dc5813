# syntax=docker/dockerfile:1
# One image for every role: `docker run iir` is `iir all`; `docker run iir router|facade|agent` runs one
# service. docs/deploy/docker.md has the build arguments, the roles and the compose stack.

# ---- build: the TypeScript sources compiled to dist/ -------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source (node-gyp) when its prebuilt binary cannot be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# node-llama-cpp's llama.cpp binaries come as npm packages (@node-llama-cpp/*); its postinstall would
# only load (or, failing that, build) them, which the build stage never needs.
RUN --mount=type=cache,target=/root/.npm \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY services ./services
COPY facade ./facade
COPY cli ./cli
RUN npm run build

# ---- runtime: production dependencies, dist/, bin/ ---------------------------------------------
FROM node:20-bookworm-slim AS runtime
# Which of node-llama-cpp's prebuilt llama.cpp binaries the agent gets: `cpu` (the default, ~30 MB)
# or `cuda` (adds the CUDA builds, ~540 MB; run with `--gpus all`). The Vulkan build is never kept.
ARG LLAMA_CPP_VARIANT=cpu
ENV NODE_ENV=production
WORKDIR /app
# tini is PID 1: it forwards SIGTERM to node, so IIR drains in-flight streams (IIR_SHUTDOWN_GRACE)
# and exits, and it reaps any child processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# Build tools only for as long as a native module may need compiling, removed in the same layer.
RUN --mount=type=cache,target=/root/.npm \
    apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=dev --no-audit --no-fund \
 && case "$LLAMA_CPP_VARIANT" in \
      cpu) rm -rf node_modules/@node-llama-cpp/*-cuda* node_modules/@node-llama-cpp/*-vulkan ;; \
      cuda) rm -rf node_modules/@node-llama-cpp/*-vulkan ;; \
      *) echo "LLAMA_CPP_VARIANT must be cpu or cuda, got '$LLAMA_CPP_VARIANT'" >&2; exit 1 ;; \
    esac \
 && apt-get purge -y --auto-remove python3 make g++ \
 && rm -rf /var/lib/apt/lists/* /root/.cache
# bin/iir.js runs dist/ only when dist/cli/main.js is at least as new as every .ts file under cli/,
# services/, facade/ and gen/ (it falls back to the sources through tsx otherwise, and needs those
# folders to exist). The sources are copied first and dist/ after; the touch makes the compiled entry
# the newest file whatever clocks the build context and the builder kept.
COPY --from=build /app/gen ./gen
COPY --from=build /app/services ./services
COPY --from=build /app/facade ./facade
COPY --from=build /app/cli ./cli
COPY --from=build /app/dist ./dist
COPY bin ./bin
RUN touch dist/cli/main.js \
 && mkdir -p /app/data /app/models \
 && chown node:node /app/data /app/models
# The registry (SQLITE_DB_PATH) and the built-in tiny model live in volumes the node user owns.
ENV SQLITE_DB_PATH=/app/data/iir.db \
    IIR_TINY_MODEL_PATH=/app/models/iir-tiny.gguf
USER node
# facade (IIR_FACADE_PORT), router (IIR_ROUTER_PORT), agent (IIR_AGENT_PORT), router metrics (IIR_ROUTER_METRICS_PORT, when set)
EXPOSE 8000 50051 50061 9464
# The facade's readiness (it answers 503 while its router is unreachable). Roles without a facade
# (router, agent) get their own check: compose.yml calls their gRPC health service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IIR_FACADE_PORT || '8000') + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same V8 flags as bin/iir.js's first line and `npm start`: node itself must be given them.
ENTRYPOINT ["tini", "--", "node", "--max-semi-space-size=8", "--v8-pool-size=2", "bin/iir.js"]
CMD ["all"]
