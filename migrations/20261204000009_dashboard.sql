-- The dashboard's low-stock tile: a product's own threshold, mirrored from
-- WooCommerce's "Low stock threshold" (low_stock_amount); NULL means the
-- tenant's dashboard.low_stock_threshold.
ALTER TABLE products ADD COLUMN low_stock_threshold INT UNSIGNED NULL AFTER weight_g;

-- Lots near expiry are found by date.
ALTER TABLE inventory_lots ADD KEY inventory_lots_expiry (expires_on);

-- Jobs' last runs are read per job, newest first.
ALTER TABLE job_runs ADD KEY job_runs_job_id (job, id);

-- Daily figures (shipped today, 30-day charts) read by time range.
ALTER TABLE shipments ADD KEY shipments_shipped (status, shipped_at);
ALTER TABLE orders ADD KEY orders_created (woo_created_at);
ALTER TABLE print_jobs ADD KEY print_jobs_recent (created_at);
