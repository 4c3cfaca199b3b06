#!/bin/sh
# As the upstream image: `server ...` runs `bao server -config=/openbao/config ...`;
# any other bao subcommand runs as given.
set -eu
if [ "${1:-}" = server ]; then
  shift
  exec bao server -config=/openbao/config "$@"
fi
exec bao "$@"
