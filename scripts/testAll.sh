#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh Debian machine, builds,
# and runs every suite. Logs and screenshots go to .artifacts/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ORT_DISABLE_TELEMETRY=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

step() { printf '\n== %s\n' "$*"; }

packages=(chromium libkrb5-dev python3-torch python3-numpy python3-onnx libopenblas0-pthread black flake8)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    step "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

step "npm ci"
npm ci --no-audit --no-fund

step "build"
npm run build

mkdir -p .artifacts
step "unit tests (node:test)"
npm test

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
