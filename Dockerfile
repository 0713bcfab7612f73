# pushgate in a scratch image: the static binary from `make static`, and nothing else (no
# shell, no users file, no CA certificates: it needs none). Build with
#   docker build -t pushgate .
#   docker build --build-arg FEATURES="basic-auth tls" -t pushgate .
# and run as docker-compose.yml does. tests/packaging.rs runs the same binary in the same
# empty root (read-only, uid 65534, only /data writable) where no Docker engine is at hand.

FROM rust:1.95-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
# The copy of .git gives `--version` and pushgateway_build_info their revision.
RUN make static FEATURES="$FEATURES" \
    && cp target/*/static/pushgate /pushgate \
    && mkdir /data

FROM scratch
COPY --from=build /pushgate /pushgate
# The volume's mount point belongs to the unprivileged user, so a new named volume does too.
COPY --from=build --chown=65534:65534 /data /data
USER 65534:65534
EXPOSE 9091
VOLUME /data
# No HEALTHCHECK: there is nothing in the image to run it with. Probe GET /-/ready from
# outside (README, "Running it").
ENTRYPOINT ["/pushgate"]
CMD ["--persistence.file=/data/pushgate.log"]
