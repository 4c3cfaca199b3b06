<?php
/**
 * Plugin Name: Quartermaster companion
 * Description: Delivers Quartermaster's webhooks in the request that made the change, and lets them reach the ops server on the stack's private network.
 * Version: 1.0.0
 *
 * A must-use plugin (wp-content/mu-plugins/). Without it WooCommerce queues
 * every webhook delivery for Action Scheduler, which WP-Cron drives: a quiet
 * shop (or one with DISABLE_WP_CRON and no system cron) delivers late or
 * never; and wp_safe_remote_request() refuses private and loopback
 * addresses and every port but 80, 443 and 8080. It touches only the
 * webhooks whose name starts with "Quartermaster" (`qm webhooks install`
 * names them so), and allows only their delivery hosts and ports.
 */

defined( 'ABSPATH' ) || exit;

/**
 * Host => ports of Quartermaster's webhook delivery URLs. Read afresh each time:
 * it is asked only when the site makes an outgoing request, and a webhook saved
 * in this request (its creation ping follows at once) must already count.
 */
function quartermaster_companion_targets() {
	global $wpdb;
	$targets = array();
	$table   = $wpdb->prefix . 'wc_webhooks';
	// phpcs:ignore WordPress.DB.DirectDatabaseQuery
	$urls = $wpdb->get_col( $wpdb->prepare( "SELECT delivery_url FROM {$table} WHERE name LIKE %s", $wpdb->esc_like( 'Quartermaster' ) . '%' ) );
	foreach ( (array) $urls as $url ) {
		$p = wp_parse_url( $url );
		if ( empty( $p['host'] ) ) {
			continue;
		}
		$host               = strtolower( $p['host'] );
		$port               = isset( $p['port'] ) ? (int) $p['port'] : ( ( isset( $p['scheme'] ) && 'https' === $p['scheme'] ) ? 443 : 80 );
		$targets[ $host ][] = $port;
	}
	return $targets;
}

// Deliver Quartermaster's webhooks at the end of the request that made the change.
add_filter(
	'woocommerce_webhook_deliver_async',
	function ( $async, $webhook ) {
		if ( $webhook instanceof WC_Webhook && 0 === strpos( $webhook->get_name(), 'Quartermaster' ) ) {
			return false;
		}
		return $async;
	},
	10,
	2
);

// The ops server is on a private network (a container name, loopback in tests).
add_filter(
	'http_request_host_is_external',
	function ( $external, $host ) {
		return $external || isset( quartermaster_companion_targets()[ strtolower( (string) $host ) ] );
	},
	10,
	2
);

// ...and may listen on a port wp_safe_remote_request() does not allow by default.
add_filter(
	'http_allowed_safe_ports',
	function ( $ports, $host ) {
		$targets = quartermaster_companion_targets();
		$host    = strtolower( (string) $host );
		return isset( $targets[ $host ] ) ? array_merge( (array) $ports, $targets[ $host ] ) : $ports;
	},
	10,
	2
);
