-- Trigger: near a store now.
--
-- Business meaning: app users whose phone was within `radius_km` of one of
-- our stores in the last `window`: the moment for an in-store offer or a
-- "your order is ready for pickup" nudge. Locations come from app events
-- (events.lat/lon, channel 'app'); stores from the stores table. When
-- several stores are in range, the nearest one is given.
--
-- Parameters (the constants in `params`; edit them there):
--   radius_km  1.6                distance to the store (great circle, haversine_km)
--   window     INTERVAL '1 hour'  how recent the app event must be
--   now        the latest event_ts in the lake (historical); on live data use now()
--
-- Output, one row per customer:
--   customer_id
--   store_id, store_name, store_city  the nearest store in range
--   distance_km                       from the latest app event in range to that store
--   seen_ts                           that event's time
CREATE OR REPLACE VIEW trigger_near_store_now AS
WITH params AS (
  SELECT 1.6 AS radius_km,
         INTERVAL '1 hour' AS window,
         (SELECT max(event_ts) FROM events) AS now
),
pings AS (
  SELECT e.customer_id, e.event_ts, e.lat, e.lon, p.radius_km
  FROM events e CROSS JOIN params p
  WHERE e.channel = 'app'
    AND e.lat IS NOT NULL AND e.lon IS NOT NULL
    AND e.event_ts > p.now - p.window
    AND e.event_ts <= p.now
),
in_range AS (
  SELECT g.customer_id, g.event_ts, s.store_id, s.name AS store_name, s.city AS store_city,
         haversine_km(g.lat, g.lon, s.lat, s.lon) AS distance_km,
         row_number() OVER (PARTITION BY g.customer_id
                            ORDER BY g.event_ts DESC, haversine_km(g.lat, g.lon, s.lat, s.lon), s.store_id) AS pick
  FROM pings g CROSS JOIN stores s
  WHERE within_km(g.lat, g.lon, s.lat, s.lon, g.radius_km)
)
SELECT customer_id, store_id, store_name, store_city, round(distance_km, 3) AS distance_km, event_ts AS seen_ts
FROM in_range
WHERE pick = 1;
