#!/bin/sh
# install-deps.sh - installs the Debian packages iotgate needs, and only those
# that `dpkg -s` reports missing, so a second run does nothing.
#   scripts/install-deps.sh run    packages to build and run iotgate
#   scripts/install-deps.sh test   plus the test clients, fuzzing and sanitizers
set -eu
mode=${1:-run}

run_pkgs="build-essential cmake pkg-config libinih-dev libssl-dev libwslay-dev libhttp-parser-dev"
test_pkgs="clang libclang-rt-14-dev libcmocka-dev mosquitto mosquitto-clients
python3-paho-mqtt python3-pytest nodejs npm"

pkgs=$run_pkgs
[ "$mode" = test ] && pkgs="$run_pkgs $test_pkgs"

missing=""
for p in $pkgs; do
    # nodejs/npm may come from outside apt (a preinstalled Node.js 20); accept it.
    case $p in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ "$mode" = test ] && [ -f tests/integration/js/package.json ] &&
   [ ! -d tests/integration/js/node_modules ]; then
    (cd tests/integration/js && npm ci --no-audit --no-fund --silent)
fi
