# Hearth FHIR server — multi-stage build: compile with dev dependencies, run with production ones as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --ignore-scripts --no-audit --no-fund && npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production HEARTH_PORT=8080 HEARTH_HOST=0.0.0.0 HEARTH_DATA_DIR=/var/lib/hearth
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY profiles ./profiles
COPY search-params ./search-params
COPY conformance ./conformance
RUN groupadd --system hearth && useradd --system --gid hearth --home /app hearth \
    && mkdir -p /var/lib/hearth && chown hearth:hearth /var/lib/hearth
USER hearth
EXPOSE 8080
VOLUME ["/var/lib/hearth"]
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/hearth"]
CMD ["serve"]
