-- The generated raw sources as one table for linkage (tests/linkage.rs reads this file).
CREATE VIEW records AS
  SELECT 'src_crm_contacts|' || CAST(record_id AS VARCHAR) AS uid, first_name, last_name,
         normalize_email(email) AS email, right(regexp_replace(phone, '[^0-9]', '', 'g'), 9) AS phone,
         birth_date, postal_code FROM src_crm_contacts
  UNION ALL SELECT 'src_web_accounts|' || account_id, first_name, last_name, normalize_email(email),
         right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), birth_date, NULL FROM src_web_accounts
  UNION ALL SELECT 'src_loyalty_cards|' || card_number, first_name, last_name, normalize_email(email),
         right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), birth_date, postal_code FROM src_loyalty_cards
  UNION ALL SELECT 'src_support_contacts|' || CAST(contact_id AS VARCHAR),
         CASE WHEN full_name LIKE '%,%' THEN trim(split_part(full_name, ',', 2)) ELSE split_part(full_name, ' ', 1) END,
         CASE WHEN full_name LIKE '%,%' THEN split_part(full_name, ',', 1) ELSE split_part(full_name, ' ', 2) END,
         normalize_email(email), right(regexp_replace(phone, '[^0-9]', '', 'g'), 9), NULL, NULL
         FROM src_support_contacts
  UNION ALL SELECT 'src_newsletter|' || subscriber_id, first_name, NULL, normalize_email(email), NULL, NULL, NULL
         FROM src_newsletter
