#!/bin/sh
# As the official image: a bare `redis-server` without a config file gets
# --protected-mode no (the container network is the boundary).
set -eu
if [ "${1:-}" = redis-server ]; then
  case "${2:-}" in *.conf) ;; *) shift; set -- redis-server --protected-mode no --bind 0.0.0.0 "$@" ;; esac
fi
exec "$@"
