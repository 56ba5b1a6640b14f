# Multi-stage build. The dependencies compile in a layer of their own (cargo-chef),
# so a change to the sources rebuilds only the workspace's crates; the runtime is
# Debian slim, as a non-root user.
#
#   docker build -t hmac-gateway:0.2.0 .
#   docker run --rm -p 8080:8080 -p 8081:8081 -p 9901:9901 hmac-gateway:0.2.0
#
# tests/it/container.rs checks this file: every COPY source exists, the config the
# CMD names is the one copied in, EXPOSE matches its listeners. CI lints it with
# hadolint.

FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.76
WORKDIR /src

# The recipe is every manifest of the workspace plus Cargo.lock, found by
# cargo-chef itself: a crate added to the workspace needs no edit here.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# Build settings (jemalloc's, compiled in) must be there when the
# dependencies compile.
COPY .cargo .cargo
# Rebuilt only when a manifest, Cargo.lock or .cargo changes.
RUN cargo chef cook --release --locked --recipe-path recipe.json
# The whole workspace; .dockerignore keeps target/ and .git out.
COPY . .
RUN cargo build --release --locked --bin hmac-gateway \
    && strip target/release/hmac-gateway

# No ca-certificates: the gateway trusts the webpki roots compiled into it, or
# the CA bundles its config names, and reads nothing from /etc/ssl.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home hmac-gateway \
    && mkdir -p /etc/hmac-gateway
COPY --from=build /src/target/release/hmac-gateway /usr/local/bin/hmac-gateway
# The demo, bound to 0.0.0.0 so that `docker run -p` reaches it; mount your own
# config over this path (or pass --config) in production.
COPY deploy/docker/gateway.yaml /etc/hmac-gateway/gateway.yaml
USER 10001
# The demo's ingress (verify), egress (sign) and admin listeners.
EXPOSE 8080 8081 9901
ENTRYPOINT ["hmac-gateway"]
CMD ["run", "--config", "/etc/hmac-gateway/gateway.yaml"]
