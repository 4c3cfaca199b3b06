#!/bin/sh
# Renders each /etc/nginx/templates/NAME.template into /etc/nginx/conf.d/NAME,
# substituting only variables that are set (nginx's own $vars stay), as the
# official image's 20-envsubst-on-templates.sh does.
set -eu
vars=$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')
for t in /etc/nginx/templates/*.template; do
  [ -e "$t" ] || continue
  out=/etc/nginx/conf.d/$(basename "$t" .template)
  envsubst "$vars" <"$t" >"$out"
done
nginx -t -q
exec "$@"
