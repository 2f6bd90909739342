#!/usr/bin/env bash
# Fails if a library includes one above it (docs/architecture.md, "Layers"),
# or if code outside the gRPC adapters includes gRPC.
#
# Usage: bash deploy/check_layers.sh   (from anywhere in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

# What each folder's code may include of ours, besides itself.
declare -A allowed=(
  [base]=""
  [proto]=""
  [crypto]="base proto"
  [storage]="base proto"
  [node/model]="base proto crypto storage"
  [node/config]="base proto crypto node/model"
  [node/gossip]="base proto crypto storage node/model"
  [node/rpc]="base proto crypto storage node/model node/config node/gossip"
  [node/daemon]="base proto crypto storage node/model node/config node/gossip node/rpc"
  [cli]="base proto crypto node/model node/config"
)
# Only these may include grpcpp or generated gRPC services.
grpc_ok="node/rpc node/daemon cli proto/grpc_status.h"

failed=0
for dir in "${!allowed[@]}"; do
  while IFS= read -r file; do
    while IFS= read -r inc; do
      top=${inc%%/*}
      case "$top" in base|proto|crypto|storage|cli) lib=$top ;;
        node) lib=$(echo "$inc" | cut -d/ -f1-2) ;;
        *) continue ;;  # a third-party header
      esac
      [ "$lib" = "$dir" ] && continue
      if [[ " ${allowed[$dir]} " != *" $lib "* ]]; then
        echo "layer violation: $file includes \"$inc\" ($dir may not depend on $lib)" >&2
        failed=1
      fi
    done < <(grep -oE '^#include "[^"]+"' "$file" | sed -E 's/#include "(.*)"/\1/')
    if grep -qE '^#include [<"](grpcpp/|grpc/|[^">]*\.grpc\.pb\.h)' "$file"; then
      ok=0
      for g in $grpc_ok; do [[ "$file" == $g* ]] && ok=1; done
      if [ $ok -eq 0 ]; then
        echo "gRPC outside the adapters: $file" >&2
        failed=1
      fi
    fi
  done < <(git ls-files "$dir/*.h" "$dir/*.cc")
done
if [ $failed -ne 0 ]; then
  echo "layer check failed" >&2
  exit 1
fi
echo "layers: every include points down; gRPC only in node/rpc, node/daemon, cli"
