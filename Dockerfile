# Cutover gateway image. Node 24 LTS runs the TypeScript sources directly
# (type stripping), so there is no build step; dev dependencies (the npm
# `node` runtime, typescript, test tools) stay out of the image.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY app ./app
COPY gateway ./gateway
COPY routes ./routes
COPY schemas ./schemas
COPY cli ./cli
COPY console ./console

# Mount the config (and its rules file) here, or point CUTOVER_CONFIG elsewhere.
ENV CUTOVER_CONFIG=/etc/cutover/cutover.yaml
EXPOSE 8080 8081

USER node
# SIGTERM drains in-flight requests (limits.drainTimeoutMs), then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ADMIN_PORT || 8081) + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "app/main.ts"]
