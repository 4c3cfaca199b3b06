-- The queue page's order in an index (issue 17): it showed the first 200
-- open orders by sorting every open order (priority, then the order's date
-- from `orders`), which grew with the queue (25–37 ms at 10,000 open
-- orders). The order's date is copied onto its queue row when it is queued
-- (it never changes), and open rows are kept apart from shipped history.
ALTER TABLE pick_queue
    ADD COLUMN ordered_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) AFTER priority,
    ADD COLUMN is_open BOOLEAN AS (status <> 'shipped') PERSISTENT,
    ADD KEY pick_queue_board (is_open, priority DESC, ordered_at, order_id);

UPDATE pick_queue q JOIN orders o ON o.id = q.order_id
   SET q.ordered_at = o.woo_created_at, q.updated_at = q.updated_at;
