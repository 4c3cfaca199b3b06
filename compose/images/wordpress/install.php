<?php
// php install.php HTML_DIR: installs WordPress when it is not installed yet
// (site URL from WORDPRESS_SITE_URL, default http://localhost; admin password
// from WORDPRESS_ADMIN_PASSWORD_FILE or random), activates WooCommerce, sets
// /%postname%/ permalinks, USD and managed stock. Exit 0 when the site is
// installed (now or before); 1 when the database does not answer yet.
$html = $argv[1] ?? '/var/www/html';
$url = getenv('WORDPRESS_SITE_URL') ?: 'http://localhost';
$host = parse_url($url, PHP_URL_HOST) ?: 'localhost';
$_SERVER['HTTP_HOST'] = $host;
$_SERVER['SERVER_NAME'] = $host;
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
mysqli_report(MYSQLI_REPORT_OFF);
// wp-load dies with a page when the database is down: test it first.
$cfg = file_get_contents("$html/wp-config.php");
preg_match_all("/define\\('(DB_[A-Z]+)', '((?:[^'\\\\]|\\\\.)*)'\\);/", $cfg, $m, PREG_SET_ORDER);
$db = [];
foreach ($m as $d) $db[$d[1]] = stripslashes($d[2]);
$link = @mysqli_connect($db['DB_HOST'] ?? 'mysql', $db['DB_USER'] ?? '', $db['DB_PASSWORD'] ?? '', $db['DB_NAME'] ?? '');
if (!$link) { fwrite(STDERR, "database not answering yet\n"); exit(1); }
mysqli_close($link);

require "$html/wp-load.php";
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
if (!is_blog_installed()) {
    $pwfile = getenv('WORDPRESS_ADMIN_PASSWORD_FILE');
    $password = $pwfile && is_readable($pwfile) ? trim(file_get_contents($pwfile)) : wp_generate_password(24);
    $r = wp_install(getenv('WORDPRESS_SITE_TITLE') ?: 'Store', 'admin', getenv('WORDPRESS_ADMIN_EMAIL') ?: 'admin@example.com', true, '', $password);
    update_option('siteurl', $url);
    update_option('home', $url);
    echo "installed WordPress at $url\n";
}
wp_set_current_user(1);
if (!is_plugin_active('woocommerce/woocommerce.php')) {
    $r = activate_plugin('woocommerce/woocommerce.php');
    if (is_wp_error($r)) { fwrite(STDERR, 'activating WooCommerce: ' . $r->get_error_message() . "\n"); exit(1); }
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure('/%postname%/');
    update_option('permalink_structure', '/%postname%/');
    flush_rewrite_rules(true);
    update_option('woocommerce_currency', 'USD');
    update_option('woocommerce_manage_stock', 'yes');
    echo "activated WooCommerce\n";
}
exit(0);
