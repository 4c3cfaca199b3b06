-- A run that died (killed, connection lost) is closed by the next run as
-- `abandoned`, instead of staying `running` forever.
ALTER TABLE job_runs MODIFY status ENUM('running','ok','failed','skipped','abandoned') NOT NULL DEFAULT 'running';

-- Where an opening lot came from (onboarding takes WooCommerce's stock as opening lots).
ALTER TABLE inventory_lots ADD COLUMN source VARCHAR(32) NOT NULL DEFAULT 'receipt' AFTER lot_ref;
