-- A counted pick scan in one round trip (issue 17): the hold check, the
-- line's count, the order's move to `picked` and the events, in one
-- transaction on the server. `station::pick::scan` is its only caller; what
-- it writes beyond the station's own `pick_queue` (order_lines.picked_qty,
-- event_log) is listed in README's "Stored procedures".
--
-- One row comes back, `outcome` first:
--   not_found      the order is not in the pick queue
--   held_by_other  someone else (holder_name) holds it, or nobody does
--   wrong_state    it is held but not being picked (status)
--   wrong_item     no line of the order is this product (sku, name: the product's)
--   too_many       every line of this product would pass its quantity
--                  (sku, quantity, picked: the last such line's)
--   counted        line_id now has picked of quantity; order_picked = 1 when
--                  every line is picked and the order moved to `picked`
-- Nothing is written unless the outcome is `counted`.
CREATE PROCEDURE pick_scan(
    IN p_order BIGINT UNSIGNED,
    IN p_operator BIGINT UNSIGNED,
    IN p_product BIGINT UNSIGNED,
    IN p_adding INT UNSIGNED
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_status VARCHAR(16) DEFAULT NULL;
    DECLARE v_holder BIGINT UNSIGNED DEFAULT NULL;
    DECLARE v_number VARCHAR(32) DEFAULT NULL;
    DECLARE v_holder_name VARCHAR(120) DEFAULT NULL;
    DECLARE v_line BIGINT UNSIGNED DEFAULT NULL;
    DECLARE v_sku VARCHAR(100) DEFAULT NULL;
    DECLARE v_name VARCHAR(255) DEFAULT NULL;
    DECLARE v_quantity INT UNSIGNED DEFAULT NULL;
    DECLARE v_picked INT UNSIGNED DEFAULT NULL;
    DECLARE v_left BIGINT DEFAULT NULL;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    -- The queue row is locked first, as every station change does.
    SELECT CAST(q.status AS CHAR), q.operator_id, o.number,
           (SELECT display_name FROM operators p WHERE p.id = q.operator_id)
      INTO v_status, v_holder, v_number, v_holder_name
      FROM pick_queue q JOIN orders o ON o.id = q.order_id
     WHERE q.order_id = p_order
       FOR UPDATE;
    IF v_number IS NULL THEN
        ROLLBACK;
        SELECT 'not_found' AS outcome, NULL AS number, NULL AS status, NULL AS holder_name,
               CAST(NULL AS UNSIGNED) AS line_id, NULL AS sku, NULL AS name,
               CAST(NULL AS UNSIGNED) AS quantity, CAST(NULL AS UNSIGNED) AS picked, FALSE AS order_picked;
    ELSEIF v_holder IS NULL OR v_holder <> p_operator THEN
        ROLLBACK;
        SELECT 'held_by_other', v_number, v_status, v_holder_name, NULL, NULL, NULL, NULL, NULL, FALSE;
    ELSEIF v_status <> 'picking' THEN
        ROLLBACK;
        SELECT 'wrong_state', v_number, v_status, v_holder_name, NULL, NULL, NULL, NULL, NULL, FALSE;
    ELSE
        -- The first line of this product with room for the whole scan.
        SELECT id, sku, quantity, picked_qty INTO v_line, v_sku, v_quantity, v_picked
          FROM order_lines
         WHERE order_id = p_order AND product_id = p_product AND NOT removed AND picked_qty + p_adding <= quantity
         ORDER BY id LIMIT 1
           FOR UPDATE;
        IF v_line IS NULL THEN
            SELECT sku, quantity, picked_qty INTO v_sku, v_quantity, v_picked
              FROM order_lines
             WHERE order_id = p_order AND product_id = p_product AND NOT removed
             ORDER BY id DESC LIMIT 1;
            ROLLBACK;
            IF v_sku IS NULL THEN
                SELECT sku, name INTO v_sku, v_name FROM products WHERE id = p_product;
                SELECT 'wrong_item', v_number, v_status, v_holder_name, NULL, v_sku, v_name, NULL, NULL, FALSE;
            ELSE
                SELECT 'too_many', v_number, v_status, v_holder_name, NULL, v_sku, NULL, v_quantity, v_picked, FALSE;
            END IF;
        ELSE
            UPDATE order_lines SET picked_qty = picked_qty + p_adding WHERE id = v_line;
            SET v_picked = v_picked + p_adding;
            SELECT COUNT(*) INTO v_left
              FROM order_lines
             WHERE order_id = p_order AND NOT removed AND picked_qty < quantity;
            IF v_left = 0 THEN
                UPDATE pick_queue SET status = 'picked', picked_at = UTC_TIMESTAMP(6) WHERE order_id = p_order;
            END IF;
            INSERT INTO event_log (kind, severity, audience, operator_id, subject_type, subject_id, message)
            VALUES ('pick.scanned', 'info', 'all', p_operator, 'order', p_order,
                    LEFT(CONCAT('order ', v_number, ': ', v_sku, ' +', p_adding, ' (', v_picked, '/', v_quantity, ')'), 512));
            IF v_left = 0 THEN
                INSERT INTO event_log (kind, severity, audience, operator_id, subject_type, subject_id, message)
                VALUES ('pick.picked', 'info', 'all', p_operator, 'order', p_order, CONCAT('order ', v_number, ' picked'));
            END IF;
            COMMIT;
            SELECT 'counted', v_number, v_status, v_holder_name, v_line, v_sku, NULL, v_quantity, v_picked, v_left = 0;
        END IF;
    END IF;
END;
