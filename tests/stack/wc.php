<?php
// Run inside the wordpress container with the script on stdin:
//   php -- product SKU | order SKU QTY | stock SKU
// The stack tier's hand in the store: what a merchant does in wp-admin and a
// buyer at the checkout, through WooCommerce's own PHP API.
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require '/var/www/html/wp-load.php';
wp_set_current_user(1);
$cmd = $argv[1] ?? '';
$sku = $argv[2] ?? '';
function fail($why) { fwrite(STDERR, "$why\n"); exit(1); }
switch ($cmd) {
    case 'product':
        $p = new WC_Product_Simple();
        $p->set_name("Stack part $sku");
        $p->set_sku($sku);
        $p->set_regular_price('10.00');
        $p->set_manage_stock(true);
        $p->set_stock_quantity(0);
        $p->set_status('publish');
        echo $p->save(), "\n";
        break;
    case 'order':
        $id = wc_get_product_id_by_sku($sku) ?: fail("no product $sku");
        $o = wc_create_order();
        $o->add_product(wc_get_product($id), (int) ($argv[3] ?? 1));
        $o->set_billing_email('buyer@example.com');
        $o->set_billing_first_name('Stack');
        $o->set_billing_last_name('Buyer');
        $o->set_payment_method('bacs');
        $o->calculate_totals();
        $o->update_status('processing');
        echo $o->get_id(), "\n";
        break;
    case 'stock':
        $id = wc_get_product_id_by_sku($sku) ?: fail("no product $sku");
        echo wc_get_product($id)->get_stock_quantity(), "\n";
        break;
    default:
        fail("usage: php -- product SKU | order SKU QTY | stock SKU");
}
