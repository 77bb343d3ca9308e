-- Experiment readout: campaign lift by segment.
--
-- Business meaning: every campaign send has a randomised holdout
-- (campaign_sends.variant = 'holdout', never mailed), so within any group
-- of customers the treatment-minus-holdout difference in conversion is the
-- causal effect of mailing them. This readout gives it per segment: who
-- buys because we mail them, who would have bought anyway, and who buys
-- *less* when mailed (stop mailing those). The '(all)' row pools every send.
--
-- Segments come from the view `experiment_segments` (customer_id, segment),
-- by default the standard RFM segment over the customer's whole order
-- history. To read the experiment by another segmentation, replace that
-- view before creating `lift_by_segment` (a view captures the plan of the
-- views it reads when it is created). A segment computed from the whole
-- history includes orders caused by earlier treatment sends; because the
-- holdout is drawn per send, a customer's treatment and holdout sends
-- carry the same segment, so the comparison inside a segment stays fair.
-- Customers without orders are segment 'no_orders'.
--
-- Parameters (the constant in `params`; edit it there):
--   alpha  0.05  significance level for `significant` (two-sided)
--
-- Output, one row per segment plus '(all)':
--   segment
--   treatment_sends, holdout_sends
--   treatment_rate, holdout_rate        share of sends converted within 7 days
--   uplift_pts                          treatment_rate − holdout_rate, in percentage points
--   lift                                relative: uplift ÷ holdout_rate (prop_test)
--   ci_low_pts, ci_high_pts             95% interval of the uplift, percentage points
--   p_value, significant                two-proportion z-test, p_value < alpha
--   revenue_per_treatment_send, revenue_per_holdout_send   EUR
--   incremental_revenue                 (difference per send) × treatment_sends, EUR
CREATE OR REPLACE VIEW experiment_segments AS
SELECT customer_id, segment FROM rfm(orders, customer_id, order_ts, amount);

CREATE OR REPLACE VIEW lift_by_segment AS
WITH params AS (
  SELECT 0.05 AS alpha
),
sends AS (
  SELECT s.variant, s.converted, CAST(s.revenue AS DOUBLE) AS revenue,
         coalesce(g.segment, 'no_orders') AS segment
  FROM campaign_sends s
  LEFT JOIN experiment_segments g ON g.customer_id = s.customer_id
),
counts AS (
  SELECT coalesce(segment, '(all)') AS segment,
         sum(CASE WHEN variant = 'treatment' THEN 1 ELSE 0 END) AS treatment_sends,
         sum(CASE WHEN variant = 'treatment' AND converted THEN 1 ELSE 0 END) AS treatment_conversions,
         sum(CASE WHEN variant = 'treatment' THEN revenue ELSE 0 END) AS treatment_revenue,
         sum(CASE WHEN variant = 'holdout' THEN 1 ELSE 0 END) AS holdout_sends,
         sum(CASE WHEN variant = 'holdout' AND converted THEN 1 ELSE 0 END) AS holdout_conversions,
         sum(CASE WHEN variant = 'holdout' THEN revenue ELSE 0 END) AS holdout_revenue
  FROM sends
  GROUP BY ROLLUP (segment)
),
tested AS (
  SELECT c.*,
         prop_test(holdout_conversions, holdout_sends, treatment_conversions, treatment_sends) AS t
  FROM counts c
  WHERE treatment_sends > 0 AND holdout_sends > 0
)
SELECT segment,
       treatment_sends,
       holdout_sends,
       round(CAST(treatment_conversions AS DOUBLE) / treatment_sends, 4) AS treatment_rate,
       round(CAST(holdout_conversions AS DOUBLE) / holdout_sends, 4) AS holdout_rate,
       round(100.0 * (CAST(treatment_conversions AS DOUBLE) / treatment_sends
                      - CAST(holdout_conversions AS DOUBLE) / holdout_sends), 2) AS uplift_pts,
       round(t['lift'], 3) AS lift,
       round(100.0 * t['ci_low'], 2) AS ci_low_pts,
       round(100.0 * t['ci_high'], 2) AS ci_high_pts,
       t['p_value'] AS p_value,
       t['p_value'] < p.alpha AS significant,
       round(treatment_revenue / treatment_sends, 2) AS revenue_per_treatment_send,
       round(holdout_revenue / holdout_sends, 2) AS revenue_per_holdout_send,
       round((treatment_revenue / treatment_sends - holdout_revenue / holdout_sends) * treatment_sends, 2) AS incremental_revenue
FROM tested CROSS JOIN params p;
