#!/usr/bin/env bash
# The main job, from a fresh machine: set-up, then a lab with a few thousand Services on the eBPF
# dataplane, and traffic through some of their ClusterIPs. The lab stays up afterwards; remove it
# with `npx kpr lab down`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
services=${SERVICES:-3000}
npx kpr lab up --dataplane "${DATAPLANE:-ebpf}" --services "$services" --endpoints 3
npx kpr lab status
echo
echo "Requests from the client pod to ClusterIPs (each answer is the name of the backend pod that served it):"
npx kpr lab status --json | node_modules/.bin/node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const tcp = s.services.filter((x) => x.protocol === "TCP");
  const picks = [tcp[0], tcp[Math.floor(tcp.length / 2)], tcp[tcp.length - 1]];
  for (const p of picks) console.log(`${p.namespace}/${p.name} http://${p.clusterIP}:${p.port}/`);
' | while read -r name url; do
  for _ in 1 2 3; do
    printf '%-28s %-32s -> %s\n' "$name" "$url" "$(npx kpr lab exec client -- curl -s --max-time 2 "$url" | head -n1)"
  done
done
echo
echo "The lab is still up: try \`npx kpr lab exec client -- curl http://<clusterIP>/\`, \`npx kpr service list --lab lab\`; remove it with \`npx kpr lab down\`."
