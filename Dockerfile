# dropcast in a container: a small runtime image, running as an unprivileged user.
#   docker build -t dropcast .
#   docker run -d --name dropcast --restart unless-stopped \
#     -v /srv/share:/data \                # the office share: inbox/, archive/, failed/, scheduled/
#     -v dropcast-state:/state \           # the journal: keep it on a volume, back it up
#     -v /etc/dropcast/dropcast.yaml:/config/dropcast.yaml:ro \
#     -e TELEGRAM_BOT_TOKEN=... dropcast
# In the config: paths under /data, `state_dir: /state`, `token: ${TELEGRAM_BOT_TOKEN}`. Keep the
# config out of the share, readable by the container's user alone (`chown 10001`, `chmod 600`):
# dropcast warns otherwise.
# Mount the share on the host (CIFS/NFS) and bind it in: dropcast polls network filesystems by
# itself (`watch: {mode: auto}`), since the kernel reports no changes made by other machines.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked && strip target/release/dropcast

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /state --shell /usr/sbin/nologin dropcast \
    && mkdir -p /state /data /config && chown dropcast:dropcast /state
COPY --from=build /src/target/release/dropcast /usr/local/bin/dropcast
USER dropcast
VOLUME ["/state"]
ENV DROPCAST_CONFIG=/config/dropcast.yaml
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/dropcast"]
CMD ["run"]
