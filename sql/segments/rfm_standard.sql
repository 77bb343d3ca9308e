-- rfm_standard: the standard R–F map as a segment set, for any relation with
-- r and f scores from 1 to 5 (e.g. rfm(orders, customer_id, order_ts, amount)).
-- The ten cells partition the 5×5 grid exactly; it gives the same answer as
-- rfm_segment(r, f), written out so analysts can copy and adjust it.
CREATE OR REPLACE SEGMENT SET rfm_standard (
  'champions'          WHEN r = 5 AND f >= 4,
  'loyal'              WHEN r BETWEEN 3 AND 4 AND f >= 4,
  'potential_loyalist' WHEN r >= 4 AND f BETWEEN 2 AND 3,
  'new_customers'      WHEN r = 5 AND f = 1,
  'promising'          WHEN r = 4 AND f = 1,
  'need_attention'     WHEN r = 3 AND f = 3,
  'about_to_sleep'     WHEN r = 3 AND f <= 2,
  'at_risk'            WHEN r <= 2 AND f BETWEEN 3 AND 4,
  'cant_lose_them'     WHEN r <= 2 AND f = 5,
  'hibernating'        WHEN r <= 2 AND f <= 2
);
