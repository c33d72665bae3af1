# arpresponder in a container: needs only the NET_RAW capability.
#   podman build --format docker -t arpresponder .     (docker build -t arpresponder .)
#   podman run --rm --network host --cap-drop ALL --cap-add NET_RAW arpresponder run -i eth0 --ip 198.51.100.7
# See the README's "Container" section (and for a lab: a veth end in the container's namespace).
FROM python:3.12-slim

# libcap2-bin: setcap, for the interpreter's file capability below (and libcap2, through which arpresponder raises
# it); libpcap0.8: the scapy engine's filter; iproute2: interface checks.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin libpcap0.8 iproute2 \
    && rm -rf /var/lib/apt/lists/*

# Built from a throwaway copy of the source, removed with its build leftovers: nothing of it stays in the image.
COPY pyproject.toml README.md /tmp/arpresponder-src/
COPY arpresponder /tmp/arpresponder-src/arpresponder
# CAP_NET_RAW in the interpreter's permitted set only (+p, no effective bit): arpresponder raises it when it opens
# its raw socket. With +ep the kernel would refuse to exec python at all where the container lacks NET_RAW.
# The dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '/tmp/arpresponder-src[metrics]' \
    && rm -rf /tmp/arpresponder-src \
    && setcap cap_net_raw+p "$(readlink -f "$(command -v python3)")" \
    && groupadd --system --gid 10001 arpr \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin arpr \
    && install -d -o arpr -g arpr -m 0755 /run/arpresponder

USER 10001:10001

# Healthy while the instance answers on its control socket (the only one in the container).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["arpresponder", "stats", "--json"]

ENTRYPOINT ["arpresponder"]
CMD ["--help"]
