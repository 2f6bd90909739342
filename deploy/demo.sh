#!/usr/bin/env bash
# The Tidings demo: four maritime agencies of the regional working group
# (Indonesia, Malaysia, the Philippines, Vietnam) found a network on
# 127.0.0.1, the Philippine Coast Guard certifies a patrol ship as a field
# node of its own, Malaysia sends a patrol alert to Indonesia and the
# Philippines, and the script shows where it went and where it did not.
#
# Usage: bash deploy/demo.sh     (as root on Debian 12; installs what it needs)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/deploy/install-deps.sh"
echo "== building (first time: a few minutes)"
bash "$top/deploy/build.sh" "$top/build/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTIDINGS_TESTS=OFF -DTIDINGS_BENCH=OFF >/dev/null
bin="$top/build/release/bin"
tidings="$bin/tidings"
tidingsd="$bin/tidingsd"

work=$(mktemp -d /tmp/tidings-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# agency id, display name
agencies=(ID.BAKAMLA MY.MMEA PH.PCG VN.VCG)
declare -A names=(
  [ID.BAKAMLA]="Indonesian Maritime Security Agency"
  [MY.MMEA]="Malaysian Maritime Enforcement Agency"
  [PH.PCG]="Philippine Coast Guard"
  [VN.VCG]="Vietnam Coast Guard"
)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
declare -A ports
next=$((20000 + RANDOM % 20000))
for a in "${agencies[@]}"; do
  while ! port_free "$next"; do next=$((next + 1)); done
  ports[$a]=$next
  next=$((next + 1))
done
ship=PH.PCG/CABRA            # a field node: PH.PCG's patrol ship
ship_file=PH.PCG+CABRA       # its files ('/' is '+')
while ! port_free "$next"; do next=$((next + 1)); done
ship_port=$next

echo "== each agency generates its keys (secret key file 0600, never leaves the node)"
for a in "${agencies[@]}"; do
  "$tidings" keygen --agency "$a" --name "${names[$a]}" --out keys \
    --endpoint "127.0.0.1:${ports[$a]}" | sed 's/^/   /'
done

echo "== the founders draw up the genesis roster and each signs it"
"$tidings" roster init --name "maritime-security-wg" --threshold 3 --out roster.bin keys/*.pub >/dev/null
for a in "${agencies[@]}"; do
  "$tidings" roster sign --roster roster.bin --key "keys/$a.key" | sed 's/^/   /'
done
"$tidings" roster verify --roster roster.bin | head -4 | sed 's/^/   /'

echo "== starting four nodes on 127.0.0.1 (full mesh)"
for a in "${agencies[@]}"; do
  {
    echo "agency = $a"
    echo "key_file = keys/$a.key"
    echo "roster = roster.bin"
    echo "data_dir = data/$a"
    echo "listen = 127.0.0.1:${ports[$a]}"
    echo "client_socket = run/$a.sock"
    echo "anti_entropy_ms = 1000"
    for b in "${agencies[@]}"; do
      [ "$a" \< "$b" ] && echo "peer = $b 127.0.0.1:${ports[$b]}"
    done
    true
  } > "$a.conf"
  "$tidingsd" --config "$a.conf" 2> "$a.log" &
  pids+=($!)
done

# poll CMD... until it succeeds or 20 s pass
poll() {
  local deadline=$((SECONDS + 20))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "timed out waiting for: $*" >&2
      tail -n 20 ./*.log >&2
      exit 1
    fi
    sleep 0.1
  done
}
linked() { [ "$("$tidings" stats --config "$1.conf" --json | grep -o '"[A-Z][A-Z.]*"' | grep -vc "\"$1\"")" -ge 3 ]; }
for a in "${agencies[@]}"; do poll linked "$a"; done
echo "   all four nodes up and linked"

echo "== PH.PCG certifies its patrol ship $ship (a field node: its own keys, no roster change)"
"$tidings" keygen --agency "$ship" --name "BRP Cabra (patrol ship)" --out keys \
  --endpoint "127.0.0.1:$ship_port" | sed 's/^/   /'
"$tidings" node certify --pub "keys/$ship_file.pub" --out "keys/$ship_file.cert" \
  --config PH.PCG.conf | sed 's/^/   /'
{
  echo "agency = $ship"
  echo "key_file = keys/$ship_file.key"
  echo "node_cert = keys/$ship_file.cert"
  echo "roster = roster.bin"
  echo "data_dir = data/$ship_file"
  echo "listen = 127.0.0.1:$ship_port"
  echo "client_socket = run/$ship_file.sock"
  echo "anti_entropy_ms = 1000"
  echo "peer = PH.PCG 127.0.0.1:${ports[PH.PCG]}"
} > ship.conf
"$tidingsd" --config ship.conf 2> ship.log &
pids+=($!)
ship_linked() { "$tidings" stats --config ship.conf --json | grep -q '"PH.PCG"'; }
poll ship_linked
# MY.MMEA wraps the alert's key to the ship once PH.PCG's gossip has told it
# of the certificate.
knows_ship() { "$tidings" node list --config MY.MMEA.conf | grep -q "active"; }
poll knows_ship
echo "   the ship is linked to PH.PCG; MY.MMEA lists it:"
"$tidings" node list --config MY.MMEA.conf | sed 's/^/   /'

echo "== MY.MMEA sends a FLASH patrol alert to ID.BAKAMLA and PH.PCG"
canary="CANARY-$(date +%s)-$RANDOM"
sent=$("$tidings" send --config MY.MMEA.conf --kind alert --precedence flash \
  --audience ID.BAKAMLA,PH.PCG --title "Hijacked tanker heading east" \
  --text "MT Orkim Harmony look-alike, AIS off, last seen 5.92N 118.60E steering 085 at 9 kn. Board and hold. ref $canary" \
  --lat 5.92 --lon 118.60)
echo "$sent" | sed 's/^/   /'
id=$(echo "$sent" | grep -oE '[0-9a-f]{64}' | head -1)

for a in ID.BAKAMLA PH.PCG; do
  poll "$tidings" show --config "$a.conf" "$id"
  echo "== arrived at $a, decrypted there:"
  "$tidings" show --config "$a.conf" "$id" | sed 's/^/   /'
done

poll "$tidings" show --config ship.conf "$id"
echo "== arrived at PH.PCG's patrol ship $ship (relayed by PH.PCG), decrypted there:"
"$tidings" show --config ship.conf "$id" | sed 's/^/   /'

# Both recipient agencies (and the ship, which signs its own holdings record).
delivered() { [ "$("$tidings" status --config MY.MMEA.conf "$id" | grep -c delivered)" -ge 2 ]; }
poll delivered
echo "== delivery receipts at MY.MMEA (signed by each recipient node):"
"$tidings" status --config MY.MMEA.conf "$id" | sed 's/^/   /'

echo "== VN.VCG is not in the audience:"
if "$tidings" show --config VN.VCG.conf "$id" 2>&1 | sed 's/^/   /'; then
  echo "VN.VCG holds the alert: this must never happen" >&2
  exit 1
fi
"$tidings" stats --config VN.VCG.conf | grep -E "envelopes stored" | sed 's/^/   /'
kill "${pids[3]}"; wait "${pids[3]}" 2>/dev/null || true
if grep -rqF "$canary" "data/VN.VCG" || grep -rqF "$id" "data/VN.VCG"; then
  echo "VN.VCG's data directory mentions the alert: this must never happen" >&2
  exit 1
fi
echo "   its data directory holds neither the alert's text nor its id"
echo "== the ship is reported lost: PH.PCG alone revokes it, and every link to it closes"
"$tidings" node revoke --node "$ship" --config PH.PCG.conf | sed 's/^/   /'
ship_cut_off() { ! ship_linked; }
poll ship_cut_off
"$tidings" node list --config MY.MMEA.conf | sed 's/^/   /'
echo "== demo done: the alert reached exactly its audience"
