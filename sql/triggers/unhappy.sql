-- Trigger: unhappy customers.
--
-- Business meaning: customers who told us recently that they are unhappy:
-- a support ticket in the last `lookback` whose text reads negative
-- (sentiment_label = 'negative', microseg's lexicon scorer) or that they
-- rated `max_csat` or lower. Use it to hold back marketing mail and route
-- them to service recovery instead.
--
-- Parameters (the constants in `params`; edit them there):
--   lookback  INTERVAL '30 days'  how recent the ticket must be
--   max_csat  2                   csat at or below this is unhappy (csat is 1–5, often NULL)
--   now       the latest event_ts in the lake (historical); on live data use now()
--
-- Output, one row per customer:
--   customer_id
--   unhappy_tickets   tickets in the lookback that are negative or badly rated
--   last_ticket_ts    the latest of them
--   min_sentiment     the most negative sentiment score among them (-1..1)
--   min_csat          the lowest csat among them (NULL when none was rated)
--   topics            their topics (list, distinct)
--   worst_text        the text of the most negative one
CREATE OR REPLACE VIEW trigger_unhappy AS
WITH params AS (
  SELECT INTERVAL '30 days' AS lookback,
         2 AS max_csat,
         (SELECT max(event_ts) FROM events) AS now
),
scored AS (
  SELECT t.customer_id, t.created_ts, t.topic, t.text, t.csat,
         sentiment(t.text) AS score, p.max_csat
  FROM tickets t CROSS JOIN params p
  WHERE t.created_ts >= p.now - p.lookback
    AND t.created_ts <= p.now
),
unhappy AS (
  SELECT * FROM scored
  WHERE sentiment_label(text) = 'negative' OR csat <= max_csat
)
SELECT customer_id,
       count(*) AS unhappy_tickets,
       max(created_ts) AS last_ticket_ts,
       round(min(score), 3) AS min_sentiment,
       min(csat) AS min_csat,
       array_agg(DISTINCT topic) AS topics,
       first_value(text ORDER BY score, created_ts DESC) AS worst_text
FROM unhappy
GROUP BY customer_id;
