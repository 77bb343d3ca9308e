//! Campaign lift by segment with 95% intervals: sql/experiments/
//! lift_by_segment.sql's readout over the report's segments, as one
//! statement (no views, so a reader's session can run it too).

use super::{Context, query};
use crate::report::chart::{self, Chart, num, text};
use crate::report::{Runner, Section};

/// The lift section.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("lift", "Campaign lift");
    if !cx.has("campaign_sends") || !cx.has("orders") {
        section.missing.push(
            "Lift needs `campaign_sends` (customer_id, variant 'treatment' | 'holdout', converted, revenue) and `orders` \
             in the lake; `microseg generate` writes both."
                .into(),
        );
        return section;
    }
    section.push(lift(runner, cx).await, "Lift by segment");
    section
}

async fn lift(runner: &dyn Runner, cx: &Context) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "WITH {},\n\
         sends AS (\n\
         \x20 SELECT s.customer_id, s.variant, s.converted, coalesce(b.segment, 'no_orders') AS segment\n\
         \x20 FROM campaign_sends s LEFT JOIN base b ON b.customer_id = s.customer_id),\n\
         counts AS (\n\
         \x20 SELECT coalesce(segment, '(all)') AS segment,\n\
         \x20        sum(CASE WHEN variant = 'treatment' THEN 1 ELSE 0 END) AS treatment_sends,\n\
         \x20        sum(CASE WHEN variant = 'treatment' AND converted THEN 1 ELSE 0 END) AS treatment_conversions,\n\
         \x20        sum(CASE WHEN variant = 'holdout' THEN 1 ELSE 0 END) AS holdout_sends,\n\
         \x20        sum(CASE WHEN variant = 'holdout' AND converted THEN 1 ELSE 0 END) AS holdout_conversions\n\
         \x20 FROM sends GROUP BY ROLLUP (segment)),\n\
         tested AS (\n\
         \x20 SELECT c.*, prop_test(holdout_conversions, holdout_sends, treatment_conversions, treatment_sends) AS t\n\
         \x20 FROM counts c WHERE treatment_sends > 0 AND holdout_sends > 0)\n\
         SELECT segment, treatment_sends, holdout_sends, treatment_conversions, holdout_conversions,\n\
         \x20      round(100.0 * (CAST(treatment_conversions AS DOUBLE) / treatment_sends\n\
         \x20                     - CAST(holdout_conversions AS DOUBLE) / holdout_sends), 2) AS uplift_pts,\n\
         \x20      round(100.0 * t['ci_low'], 2) AS ci_low_pts, round(100.0 * t['ci_high'], 2) AS ci_high_pts,\n\
         \x20      t['p_value'] AS p_value\n\
         FROM tested ORDER BY segment = '(all)' DESC, uplift_pts DESC",
        cx.base_cte()
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let segments: Vec<_> = rows
        .iter()
        .filter(|r| text(r, "segment") != "(all)")
        .collect();
    let best = segments
        .iter()
        .max_by(|a, b| num(a, "uplift_pts").total_cmp(&num(b, "uplift_pts")));
    let unclear = segments
        .iter()
        .filter(|r| num(r, "ci_low_pts") <= 0.0 && num(r, "ci_high_pts") >= 0.0)
        .count();
    let reading = match best {
        Some(b) => format!(
            "Mailing lifts conversion most in {} (+{} points, 95% interval {} to {}); in {unclear} of {} segments the interval includes zero.",
            text(b, "segment"),
            num(b, "uplift_pts"),
            num(b, "ci_low_pts"),
            num(b, "ci_high_pts"),
            segments.len()
        ),
        None => "Only the pooled readout has sends in both arms.".into(),
    };
    Ok(Some(Chart {
        id: "lift".into(),
        title: "Campaign lift by segment: treatment minus randomised holdout conversion".into(),
        units: "percentage points of conversion within 7 days, with 95% interval".into(),
        reading,
        sql,
        spec: chart::intervals(
            "segment",
            "segment",
            "uplift_pts",
            "ci_low_pts",
            "ci_high_pts",
            "uplift (percentage points)",
        ),
        rows,
    }))
}
