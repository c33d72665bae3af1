# arpresponder in a container: needs only the NET_RAW capability.
#   docker build -t arpresponder .
#   docker run --rm --network host --cap-drop ALL --cap-add NET_RAW arpresponder run -i eth0 --ip 198.51.100.7
# See the README's "Container" section (and for moving a veth end into the container's namespace).
FROM python:3.12-slim

# libcap2-bin: setcap, so the non-root user gets CAP_NET_RAW from the python binary's file capability
# (Docker gives capabilities to root only); libpcap0.8: the scapy engine's filter; iproute2: interface checks.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin libpcap0.8 iproute2 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY arpresponder ./arpresponder
# The project itself, from this source tree; its dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[metrics]' \
    && setcap cap_net_raw+ep "$(readlink -f "$(command -v python3)")" \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin arpr \
    && install -d -o arpr -g arpr -m 0755 /run/arpresponder

USER 10001

# Healthy while the instance answers on its control socket (the only one in the container).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["arpresponder", "stats", "--json"]

ENTRYPOINT ["arpresponder"]
CMD ["--help"]
