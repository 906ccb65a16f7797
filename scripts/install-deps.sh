#!/bin/sh
# Installs the Debian packages parallm needs to build and test, if any are
# missing. As root it runs apt-get; otherwise it prints the exact command.
set -eu
# libclang-rt-14-dev: clang's sanitizer and libFuzzer runtimes (make test's
# ASan build, with the fuzz targets; make fuzz).
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev clang-format g++ binutils libcurl4-openssl-dev libjansson-dev libevent-dev libssl-dev libcmocka-dev curl openssl python3 time"
# chromium, chromium-driver: the browser tests of the report and dashboard
# pages (tests/browser, label "browser").
PKGS="$PKGS chromium chromium-driver"
# prometheus: promtool checks the metrics text; the binary scrapes a run in
# tests/cli/test_metrics_prometheus.sh.
PKGS="$PKGS prometheus"
# libhiredis-dev, redis-server: shared limits through Redis (src/limits/
# shared*.c) and their tests (tests/redis, label "redis").
PKGS="$PKGS libhiredis-dev redis-server"
# nginx: TLS + HTTP/2 in front of the mock (tests/cli/nginx_lib.sh) for
# tests/cli/test_run_h2_nginx.sh and bench/h2.sh. Debian 12's nginx-light
# is only a transitional package for nginx (plus an echo module), so the
# real package is named.
PKGS="$PKGS nginx"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# The SDK tests (tests/sdk) need node and npm. Debian's nodejs and npm
# come only where the commands are missing: a node already on the PATH
# (such as a nodejs package that bundles its own npm, which Debian's npm
# package would conflict with) is kept as it is.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "parallm: installing:$missing" >&2
    apt-get update -qq
    # redis-server, prometheus and nginx are services in Debian: the tests
    # start their own on free ports, so the packages must not start theirs
    # now (nginx's would take port 80, and fail the install where it is
    # taken). policy-rc.d is Debian's switch for that; one already there
    # is left alone.
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=/usr/sbin/policy-rc.d
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || rc=$?
    if [ -n "$guard" ]; then rm -f "$guard"; fi
    exit $rc
else
    echo "parallm: missing packages:$missing" >&2
    echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
