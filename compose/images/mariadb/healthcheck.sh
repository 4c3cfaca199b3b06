#!/bin/sh
# The official image's healthcheck.sh for the two tests the stack uses:
#   --connect              the server accepts a TCP connection
#   --innodb_initialized   InnoDB is up
set -eu
cnf=/var/lib/mysql/.my-healthcheck.cnf
for test in "$@"; do
  case "$test" in
    --connect) mariadb --defaults-extra-file="$cnf" --protocol=tcp -h127.0.0.1 -e 'SELECT 1' >/dev/null ;;
    --innodb_initialized)
      [ "$(mariadb --defaults-extra-file="$cnf" -N -e "SELECT 1 FROM information_schema.ENGINES WHERE engine='InnoDB' AND support IN ('YES','DEFAULT')")" = 1 ] ;;
    *) echo "unknown test $test" >&2; exit 2 ;;
  esac
done
