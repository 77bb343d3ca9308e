-- The generated raw sources as one table for linkage (tests/linkage.rs reads this file).
-- The sources' junk values (sql/README.md, "Raw sources": '', 'null', 'n/a',
-- test@example.com, 0000000000) are cleaned to NULL, as an analyst would:
-- empty text is NULL to linkage already; the others would block thousands of
-- unrelated records together.
CREATE VIEW records AS
  SELECT 'src_crm_contacts|' || CAST(record_id AS VARCHAR) AS uid, first_name, last_name,
         NULLIF(normalize_email(email), 'test@example.com') AS email,
         NULLIF(right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), '000000000') AS phone,
         birth_date, postal_code FROM src_crm_contacts
  UNION ALL SELECT 'src_web_accounts|' || account_id, first_name, last_name, NULLIF(normalize_email(email), 'test@example.com'),
         NULLIF(right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), '000000000'), birth_date, NULL FROM src_web_accounts
  UNION ALL SELECT 'src_loyalty_cards|' || card_number, first_name, last_name, NULLIF(normalize_email(email), 'test@example.com'),
         NULLIF(right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), '000000000'), birth_date, postal_code FROM src_loyalty_cards
  UNION ALL SELECT 'src_support_contacts|' || CAST(contact_id AS VARCHAR),
         CASE WHEN full_name LIKE '%,%' THEN trim(split_part(full_name, ',', 2)) ELSE split_part(full_name, ' ', 1) END,
         CASE WHEN full_name LIKE '%,%' THEN split_part(full_name, ',', 1) ELSE split_part(full_name, ' ', 2) END,
         NULLIF(normalize_email(email), 'test@example.com'),
         NULLIF(right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), '000000000'), NULL, NULL
         FROM src_support_contacts
  UNION ALL SELECT 'src_newsletter|' || subscriber_id, first_name, NULL, NULLIF(normalize_email(email), 'test@example.com'), NULL, NULL, NULL
         FROM src_newsletter
