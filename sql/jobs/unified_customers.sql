-- One golden row per profile. Survivorship, attribute by attribute, among
-- the profile's records where the attribute is present:
--   first_name, last_name      source priority (CRM, loyalty, web, support, newsletter), then most recent
--   email, birth_date          most frequent (ties: most recent)
--   phone, postal_code, city   most recent (people move and change numbers); city goes with the postal code
-- Remaining ties: the smaller value.
WITH email_votes AS (
  SELECT profile_id, email, count(*) AS n, max(seen_ts) AS last_ts
  FROM identity_records_profiled WHERE email IS NOT NULL GROUP BY profile_id, email
), birth_votes AS (
  SELECT profile_id, birth_date, count(*) AS n, max(seen_ts) AS last_ts
  FROM identity_records_profiled WHERE birth_date IS NOT NULL GROUP BY profile_id, birth_date
), best_email AS (
  SELECT profile_id, first_value(email ORDER BY n DESC, last_ts DESC, email) AS email
  FROM email_votes GROUP BY profile_id
), best_birth AS (
  SELECT profile_id, first_value(birth_date ORDER BY n DESC, last_ts DESC, birth_date) AS birth_date
  FROM birth_votes GROUP BY profile_id
), attributes AS (
  SELECT profile_id,
    first_value(first_name ORDER BY priority, seen_ts DESC, first_name) FILTER (WHERE first_name IS NOT NULL) AS first_name,
    first_value(last_name ORDER BY priority, seen_ts DESC, last_name) FILTER (WHERE last_name IS NOT NULL) AS last_name,
    first_value(phone ORDER BY seen_ts DESC, phone) FILTER (WHERE phone IS NOT NULL) AS phone,
    first_value(postal_code ORDER BY seen_ts DESC, postal_code) FILTER (WHERE postal_code IS NOT NULL) AS postal_code,
    first_value(city ORDER BY seen_ts DESC, postal_code) FILTER (WHERE postal_code IS NOT NULL) AS city,
    count(*) AS record_count,
    array_to_string(array_agg(DISTINCT source), ', ') AS sources,
    array_to_string(array_agg(source || '|' || record_key ORDER BY source, record_key), ', ') AS records,
    min(seen_ts) AS first_seen_ts,
    max(seen_ts) AS last_seen_ts
  FROM identity_records_profiled GROUP BY profile_id
)
SELECT a.profile_id, a.first_name, a.last_name, e.email, a.phone, b.birth_date, a.postal_code, a.city,
       a.record_count, a.sources, a.records, a.first_seen_ts, a.last_seen_ts
FROM attributes a
LEFT JOIN best_email e USING (profile_id)
LEFT JOIN best_birth b USING (profile_id)
