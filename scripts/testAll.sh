#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh Debian machine, runs the fast
# lane (type-check, lint, format check, Python lint, unit tests) and stops there on a failure,
# then builds and runs the slow suites. Logs and screenshots go to .artifacts/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ORT_DISABLE_TELEMETRY=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# The suites that need PyTorch fail instead of skipping when it is missing (test/helpers/python.ts).
export ATTENTION_REUSE_TEST_COMMAND=1

current=setup
step() {
  current="$*"
  printf '\n== %s\n' "$*"
}
trap 'echo "FAILED: $current" >&2' ERR

packages=(chromium libkrb5-dev python3-torch python3-numpy python3-onnx libopenblas0-pthread black flake8)
absent() { for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }
mapfile -t missing < <(absent)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || true
  mapfile -t missing < <(absent)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing Debian packages the suites need: ${missing[*]} (as root: apt-get install -y ${missing[*]})" >&2
  exit 1
fi

step "npm ci"
npm ci --no-audit --no-fund

# The fast lane: no build, no browser, no PyTorch.
step "fast lane: type-check (tsc -b)"
npm run typecheck
step "fast lane: lint (eslint)"
npm run lint
step "fast lane: format check (prettier)"
npm run format:check
step "fast lane: Python lint (black, flake8)"
npm run lint:python
step "fast lane: unit tests (node:test from the TypeScript sources)"
npm test

step "build"
npm run build

mkdir -p .artifacts
step "integration tests: the CLI bundle (the bad-input corpus among them) and the PyTorch reference"
npm run test:integration
step "fuzzing the readers (about 30 s; FUZZ_SCALE=10 for longer)"
npm run test:fuzz

step "webview tests in headless Chromium"
npm run test:webview

step "extension tests in a real VS Code (code-server)"
npm run test:vscode

step "Restricted Mode (workspace trust) tests in code-server"
npm run test:vscode:untrusted

step "package the five platform .vsix files (and check their file lists)"
npm run package

step "UI test: the packaged .vsix in code-server, driven from the command palette"
npm run test:ui

step "extension tests in desktop VS Code (@vscode/test-electron)"
npm run test:electron

echo
echo "all test suites passed; logs and screenshots: $(pwd)/.artifacts"
