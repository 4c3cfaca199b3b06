#!/bin/bash
# First start (empty /var/lib/mysql): install the system tables, set the root
# password, create MARIADB_DATABASE and MARIADB_USER, run the init scripts,
# then serve. Later starts serve the data as it is.
set -euo pipefail
file_env() {  # VAR: VAR or the content of VAR_FILE
  local var=$1 file_var="${1}_FILE"
  if [ -n "${!file_var:-}" ]; then export "$var"="$(cat "${!file_var}")"; fi
}
file_env MARIADB_ROOT_PASSWORD
file_env MARIADB_PASSWORD
datadir=/var/lib/mysql
chown -R mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  : "${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE is required}"
  echo "initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  for _ in $(seq 1 100); do mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break; sleep 0.2; done
  sql() { mariadb --socket=/run/mysqld/init.sock -uroot "$@"; }
  hc_password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
  {
    echo "ALTER USER root@localhost IDENTIFIED BY '$(esc "$MARIADB_ROOT_PASSWORD")';"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(esc "$MARIADB_ROOT_PASSWORD")'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    echo "CREATE USER healthcheck@'127.0.0.1' IDENTIFIED BY '$hc_password', healthcheck@'::1' IDENTIFIED BY '$hc_password', healthcheck@localhost IDENTIFIED BY '$hc_password'; GRANT USAGE ON *.* TO healthcheck@'127.0.0.1', healthcheck@'::1', healthcheck@localhost;"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    fi
    if [ -n "${MARIADB_USER:-}" ] && [ -n "${MARIADB_PASSWORD:-}" ]; then
      echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(esc "$MARIADB_PASSWORD")';"
      [ -n "${MARIADB_DATABASE:-}" ] && echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | sql
  printf '[mariadb-client]\nport=3306\nsocket=/run/mysqld/mysqld.sock\nuser=healthcheck\npassword=%s\n' "$hc_password" >"$datadir/.my-healthcheck.cnf"
  chown mysql:mysql "$datadir/.my-healthcheck.cnf"; chmod 600 "$datadir/.my-healthcheck.cnf"
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; (PATH="/tmp/initdb:$PATH"; mkdir -p /tmp/initdb
            printf '#!/bin/sh\nexec /usr/bin/mariadb --socket=/run/mysqld/init.sock "$@"\n' >/tmp/initdb/mariadb; chmod +x /tmp/initdb/mariadb
            "$f") ;;
      *.sql) echo "running $f"; sql -p"$MARIADB_ROOT_PASSWORD" <"$f" ;;
    esac
  done
  kill "$pid"; wait "$pid" || true
  echo "initialised"
fi
if [ "$1" = mariadbd ]; then
  shift
  exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --socket=/run/mysqld/mysqld.sock --skip-name-resolve "$@"
fi
exec "$@"
