-- A variation whose stock WooCommerce keeps on its parent (`manage_stock: "parent"`)
-- points at the parent's row: the parent is pushed the sum of its family's
-- available units, and the variation's lines may reserve from the parent's lots.
ALTER TABLE products ADD COLUMN stock_holder_id BIGINT UNSIGNED NULL AFTER woo_parent_id,
    ADD CONSTRAINT products_stock_holder FOREIGN KEY (stock_holder_id) REFERENCES products (id);
