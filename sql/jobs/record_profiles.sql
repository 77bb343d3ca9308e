-- Each source record → its profile: join any table keyed by a source id
-- (source, record_key) to profiles.
SELECT source || '|' || record_key AS record_id, source, record_key, profile_id
FROM identity_components('people')
