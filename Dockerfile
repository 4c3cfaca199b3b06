# syntax=docker/dockerfile:1
# Quartermaster ops server: build qm in a Rust image, run it in slim Debian
# with WeasyPrint (quote PDFs, packing slips) and the CUPS client libraries.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config cmake \
 && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
COPY tenant-configs/schema ./tenant-configs/schema
COPY tenant-configs/example.yaml ./tenant-configs/example.yaml
COPY benches ./benches
COPY tests ./tests
# The stand-ins (feature "standin") stay out of the production binary.
RUN cargo build --release --locked --no-default-features --bin qm

FROM debian:bookworm-20251117-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl weasyprint cups-client libcups2 fonts-dejavu-core tini mariadb-client gzip restic \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 qm \
 && useradd --system --uid 10001 --gid qm --home-dir /var/lib/quartermaster --shell /usr/sbin/nologin qm \
 && mkdir -p /var/lib/quartermaster /etc/quartermaster /var/backups/quartermaster \
 && chown qm:qm /var/lib/quartermaster /var/backups/quartermaster
COPY --from=build /src/target/release/qm /usr/local/bin/qm
COPY templates /usr/share/quartermaster/templates
COPY migrations /usr/share/quartermaster/migrations
COPY tenant-configs/schema /usr/share/quartermaster/schema
USER qm
WORKDIR /var/lib/quartermaster
ENV QM_DATA_DIR=/var/lib/quartermaster QM_LOG_FORMAT=json QM_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/qm"]
CMD ["serve", "--config", "/etc/quartermaster/tenant.yaml"]
