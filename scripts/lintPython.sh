#!/usr/bin/env bash
# Python lint with Debian's black and flake8 (apt-get install black flake8) over the trainer,
# its tests and the scripts; settings in pyproject.toml (black) and .flake8.
# --fix: black rewrites the files instead of checking them (flake8 still only reports).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(media/trainer test/trainer scripts)

missing=()
for tool in black flake8; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lint:python needs ${missing[*]}: apt-get install -y ${missing[*]}" >&2
  exit 1
fi

if [ "${1:-}" = --fix ]; then
  black --quiet "${paths[@]}"
else
  black --check --quiet "${paths[@]}" || { echo "black would reformat the files above: run scripts/lintPython.sh --fix" >&2; exit 1; }
fi
flake8 "${paths[@]}"
