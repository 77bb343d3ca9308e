-- Orders that count for RFM: returned and cancelled ones do not.
CREATE OR REPLACE VIEW completed_orders AS SELECT * FROM orders WHERE status = 'completed';
