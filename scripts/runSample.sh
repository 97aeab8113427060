#!/usr/bin/env bash
# The main job on the bundled sample model: install, build, inspect, analyze and plan reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ORT_DISABLE_TELEMETRY=1
[ -d node_modules/onnxruntime-node ] || npm ci --no-audit --no-fund
npm run build
sample=media/sample
out=.artifacts/sample
mkdir -p "$out"
node dist/cli.js inspect "$sample/model.onnx"
node dist/cli.js analyze "$sample/model.onnx" --text "$sample/sentences.txt" --tokenizer "$sample/tokenizer.json" \
  --out "$out/analysis.json" --force
node dist/cli.js plan "$out/analysis.json"
echo "outputs: $(pwd)/$out"
