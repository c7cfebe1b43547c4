#!/usr/bin/env bash
# Install the named Debian packages that are missing: with apt when root, else print the exact line.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v dpkg-query >/dev/null; then
  echo "Missing Debian packages. Run: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  exit 1
fi
