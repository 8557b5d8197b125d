#!/usr/bin/env bash
# Checks the Debian packages the test suite compares against (memcached is the oracle of the differential
# tests). On a fresh machine where we are root, installs them; otherwise says exactly what is missing.
set -euo pipefail
need=()
command -v memcached >/dev/null || need+=(memcached)
command -v memccapable >/dev/null || need+=(libmemcached-tools)
# The TLS tests make their certificates with the openssl CLI.
command -v openssl >/dev/null || need+=(openssl)
# Debian's python3-* packages install for the system interpreter; a python3 found earlier on PATH (pyenv,
# a virtualenv) does not see them, and the tests run /usr/bin/python3.
/usr/bin/python3 -c 'import pymemcache' 2>/dev/null || need+=(python3-pymemcache)
/usr/bin/python3 -c 'import pylibmc' 2>/dev/null || need+=(python3-pylibmc)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test-deps: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
else
  echo "test-deps: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
