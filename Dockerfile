# kpr's container image: the node agent (`kpr agent`) and the `kpr` CLI.
# Build: docker build -t kpr:dev .   (multi-stage; the runtime image has no compiler)

# --- build stage: the BPF objects and the production node_modules ---------------------------
FROM node:24-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not invalidate the npm layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bpf/ bpf/
RUN make -C bpf

# --- runtime stage --------------------------------------------------------------------------
FROM node:24-bookworm-slim
# libbpf1: loaded through koffi by the eBPF dataplane. iptables (nft and legacy backends),
# nftables and iproute2: the other dataplanes and `kpr cleanup --kube-proxy`.
# util-linux (mount, mountpoint) is already in the base image, for the bpffs init container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 iptables nftables iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kpr
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/build/bpf/ build/bpf/
COPY package.json ./
COPY bin/ bin/
COPY src/ src/
ENV NODE_ENV=production \
    KPR_LOG_FORMAT=json
ENTRYPOINT ["node", "bin/kpr.js"]
CMD ["agent"]
