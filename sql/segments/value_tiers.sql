-- value_tiers: the top 1% / 5% / 20% of customers by spend, via quantile
-- scores with 100 bins over the relation the set is applied to: score 100 is
-- the top 1%, ≥ 96 the top 5%, ≥ 81 the top 20% (ties share a score, so a
-- tier can be slightly smaller than its nominal share, never larger).
-- Needs monetary; use it in a SELECT list (the rules are window functions).
CREATE OR REPLACE SEGMENT SET value_tiers (
  'top_1pct'  WHEN quantile_score(monetary, 100) OVER () = 100,
  'top_5pct'  WHEN quantile_score(monetary, 100) OVER () >= 96,
  'top_20pct' WHEN quantile_score(monetary, 100) OVER () >= 81,
  ELSE 'rest'
);
