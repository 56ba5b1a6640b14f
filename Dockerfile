# Multi-stage build: compile in the Rust image, run on a small Debian base as
# a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace (the signature crate, benches named in Cargo.toml);
# .dockerignore keeps target/ and .git out.
COPY . .
RUN cargo build --release --locked && strip target/release/hmac-gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home hmac-gateway \
    && mkdir -p /etc/hmac-gateway
COPY --from=build /src/target/release/hmac-gateway /usr/local/bin/hmac-gateway
COPY gateway.yaml /etc/hmac-gateway/gateway.yaml
USER 10001
# The demo's listeners; a real config chooses its own.
EXPOSE 8080 8081
ENTRYPOINT ["hmac-gateway"]
CMD ["run", "--config", "/etc/hmac-gateway/gateway.yaml"]
