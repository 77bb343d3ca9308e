-- Every source record with its identity attributes in one shape: the
-- e-mail normalized for matching, the record's own time (when it
-- was last true) and its source's priority for names and addresses (lower
-- first: CRM, loyalty, web, support, newsletter).
CREATE OR REPLACE VIEW identity_records AS
  SELECT 'src_crm_contacts' AS source, CAST(record_id AS VARCHAR) AS record_key, 1 AS priority,
         first_name, last_name, normalize_email(email) AS email, phone,
         birth_date, postal_code, city, updated_ts AS seen_ts
    FROM src_crm_contacts
  UNION ALL
  SELECT 'src_loyalty_cards', card_number, 2, first_name, last_name, normalize_email(email),
         phone, birth_date, postal_code, city, issued_ts
    FROM src_loyalty_cards
  UNION ALL
  SELECT 'src_web_accounts', account_id, 3, first_name, last_name, normalize_email(email),
         phone, birth_date, NULL, NULL, last_login_ts
    FROM src_web_accounts
  UNION ALL
  SELECT 'src_support_contacts', CAST(contact_id AS VARCHAR), 4,
         CASE WHEN full_name LIKE '%,%' THEN trim(split_part(full_name, ',', 2)) ELSE split_part(full_name, ' ', 1) END,
         CASE WHEN full_name LIKE '%,%' THEN split_part(full_name, ',', 1) ELSE nullif(split_part(full_name, ' ', 2), '') END,
         normalize_email(email), phone, NULL, NULL, NULL, created_ts
    FROM src_support_contacts
  UNION ALL
  SELECT 'src_newsletter', subscriber_id, 5, first_name, NULL, normalize_email(email),
         NULL, NULL, NULL, NULL, subscribed_ts
    FROM src_newsletter;

-- The deterministic identity graph: a new version each run, profile ids
-- kept stable across runs (README, "Identity graphs").
CREATE OR REPLACE IDENTITY GRAPH people (
  SOURCE src_crm_contacts     KEY record_id,
  SOURCE src_web_accounts     KEY account_id,
  SOURCE src_loyalty_cards    KEY card_number,
  SOURCE src_support_contacts KEY contact_id,
  SOURCE src_newsletter       KEY subscriber_id,
  MATCH ON normalize_email(email)                              LIMIT 2 PRIORITY 1,
  MATCH ON right(regexp_replace(phone, '[^0-9]', '', 'g'), 9)  LIMIT 2 PRIORITY 2,
  MATCH ON (lower(last_name), birth_date, postal_code),
  BLOCK VALUES ('', 'null', 'n/a', 'test@example.com'),
  MAX_COMPONENT_SIZE 50
);

-- Each source record with its profile.
CREATE OR REPLACE VIEW identity_records_profiled AS
  SELECT c.profile_id, r.*
  FROM identity_records r
  JOIN identity_components('people') c ON c.source = r.source AND c.record_key = r.record_key;
