#!/usr/bin/env bash
# Installs the Debian packages the project needs, when run as root and they are missing;
# otherwise names them. Usage: scripts/system-deps.sh run|test|bench
set -euo pipefail
purpose=${1:-run}
pkgs=(libzbar0 libgl1 libglib2.0-0 redis-server redis-tools fonts-noto-cjk)
case "$purpose" in
  venv) pkgs=(python3-venv) ;;
  test) pkgs+=(chromium nginx wrk) ;;
  bench) pkgs+=(wrk nginx chromium) ;;
esac
# The phone app's build needs node and npm; a node installed another way is fine too.
if [ "$purpose" != venv ] && ! { command -v node && command -v npm; } >/dev/null; then pkgs+=(nodejs npm); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package starts a system redis-server on 6379; the project runs its own.
  if [ -x /usr/sbin/service ]; then service redis-server stop >/dev/null 2>&1 || true; fi
else
  echo "missing system packages (install as root): apt-get install ${missing[*]}" >&2
  [ "$purpose" = run ] || [ "$purpose" = venv ] || exit 1
fi
