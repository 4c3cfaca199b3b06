#!/bin/bash
# First start: copy WordPress and WooCommerce into the (empty) volume and
# write wp-config.php from WORDPRESS_DB_* (as the official image does); then
# serve with PHP's server (4 workers) and install the site once the database
# answers. Later starts keep the volume as it is.
set -euo pipefail
file_env() { local var=$1 f="${1}_FILE"; if [ -n "${!f:-}" ]; then export "$var"="$(cat "${!f}")"; fi; }
file_env WORDPRESS_DB_PASSWORD
lib=/usr/local/lib/qm-wordpress
html=/var/www/html
if [ ! -e "$html/wp-includes/version.php" ]; then
  echo "copying WordPress and WooCommerce into $html"
  tar -xzf /usr/src/wordpress/wordpress.tar.gz -C "$html" --strip-components=1
  tar -xzf /usr/src/wordpress/woocommerce.tar.gz -C "$html/wp-content/plugins"
fi
if [ ! -e "$html/wp-config.php" ]; then
  salt() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' ; }
  q() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
  {
    echo "<?php"
    echo "define('DB_NAME', '$(q "${WORDPRESS_DB_NAME:-wordpress}")');"
    echo "define('DB_USER', '$(q "${WORDPRESS_DB_USER:-wordpress}")');"
    echo "define('DB_PASSWORD', '$(q "${WORDPRESS_DB_PASSWORD:-}")');"
    echo "define('DB_HOST', '$(q "${WORDPRESS_DB_HOST:-mysql}")');"
    echo "define('DB_CHARSET', 'utf8mb4'); define('DB_COLLATE', '');"
    for k in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
      echo "define('$k', '$(salt)');"
    done
    echo "\$table_prefix = '${WORDPRESS_TABLE_PREFIX:-wp_}';"
    echo "if (isset(\$_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos(\$_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) { \$_SERVER['HTTPS'] = 'on'; }"
    # No way out from a test network: do not wait on wordpress.org. The ops
    # server on the stack's network stays reachable (its webhooks).
    echo "define('WP_HTTP_BLOCK_EXTERNAL', true); define('WP_ACCESSIBLE_HOSTS', 'ops'); define('AUTOMATIC_UPDATER_DISABLED', true);"
    echo "${WORDPRESS_CONFIG_EXTRA:-}"
    echo "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }"
    echo "require_once ABSPATH . 'wp-settings.php';"
  } >"$html/wp-config.php"
fi
# Everything but what the stack bind-mounts read-only (the companion plugin,
# compose.yaml): a chown there fails, and would reach the host's file.
companion="$html/wp-content/mu-plugins/quartermaster-companion.php"
find "$html" -path "$companion" -prune -o -exec chown www-data:www-data {} +
[ "${1:-}" = serve ] || exec "$@"

PHP_CLI_SERVER_WORKERS=4 setpriv --reuid=www-data --regid=www-data --init-groups \
  php -d memory_limit=512M -d variables_order=EGPCS -S 0.0.0.0:80 -t "$html" "$lib/router.php" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; exit 0' TERM INT
# Install once the database answers (the healthcheck fails until then).
for _ in $(seq 1 120); do
  if setpriv --reuid=www-data --regid=www-data --init-groups php "$lib/install.php" "$html"; then break; fi
  sleep 2
done
wait $server
