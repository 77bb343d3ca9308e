-- lifecycle: where a customer is in their life with us, judged by recency
-- against the customer's own pace. Needs recency_days, tenure_days and
-- frequency (e.g. from rfm()). tenure_days / frequency is the customer's
-- average number of days per purchase since their first one.
--   new:     first purchase at most 60 days ago;
--   active:  last purchase within 60 days, or within 2× their own pace;
--   at_risk: within 180 days, or within 4× their own pace;
--   lapsed:  everyone else.
CREATE OR REPLACE SEGMENT SET lifecycle (
  'new'     WHEN tenure_days <= 60,
  'active'  WHEN recency_days <= greatest(60, 2.0 * tenure_days / frequency),
  'at_risk' WHEN recency_days <= greatest(180, 4.0 * tenure_days / frequency),
  ELSE 'lapsed'
);
