<?php
// php rest-key.php [DESCRIPTION]: creates a read_write WooCommerce REST key for
// the administrator (user 1), stored as WooCommerce stores the keys it makes
// (consumer_key = HMAC-SHA256(ck, 'wc-api')), and prints "ck_… cs_…" once.
// The operator's equivalent of WooCommerce → Settings → Advanced → REST API → Add key.
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require '/var/www/html/wp-load.php';
global $wpdb;
$ck = 'ck_' . bin2hex(random_bytes(20));
$cs = 'cs_' . bin2hex(random_bytes(20));
$ok = $wpdb->insert($wpdb->prefix . 'woocommerce_api_keys', [
    'user_id' => 1,
    'description' => $argv[1] ?? 'Quartermaster',
    'permissions' => 'read_write',
    'consumer_key' => hash_hmac('sha256', $ck, 'wc-api'),
    'consumer_secret' => $cs,
    'truncated_key' => substr($ck, -7),
]);
if (!$ok) { fwrite(STDERR, 'creating the key: ' . $wpdb->last_error . "\n"); exit(1); }
echo "$ck $cs\n";
