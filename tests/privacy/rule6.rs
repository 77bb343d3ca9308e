//! Rule 6 beyond `WHERE`: the rows a join condition, an `IN`/`EXISTS`
//! subquery (semi and anti joins) or a `HAVING` removes are a group too.
//! Each differencing attack pairs an allowed "everyone" query with the
//! refused "everyone but the victim"; what is allowed is checked against
//! the analyst's answer to the same question.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int32Type;

use super::reader::{PRIVACY, refused, sessions, text};
use crate::support::{error, run};

/// A customer with orders whose (city, birth_year, gender) nobody else has.
async fn victim(analyst: &microseg::Engine) -> (String, i32, String) {
    let batches = run(
        analyst,
        "SELECT c.city, c.birth_year, c.gender FROM customers c \
         JOIN (SELECT city, birth_year, gender FROM customers GROUP BY ALL HAVING count(*) = 1) u \
         ON u.city = c.city AND u.birth_year = c.birth_year AND u.gender = c.gender \
         WHERE c.customer_id IN (SELECT customer_id FROM orders) \
         ORDER BY c.customer_id LIMIT 1",
    )
    .await;
    let b = &batches[0];
    let city = datafusion::arrow::compute::cast(
        b.column(0),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let gender = datafusion::arrow::compute::cast(
        b.column(2),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let year = datafusion::arrow::compute::cast(
        b.column(1),
        &datafusion::arrow::datatypes::DataType::Int32,
    )
    .unwrap();
    assert_eq!(
        year.len(),
        1,
        "the test lake must have a customer alone in their combination"
    );
    (
        city.as_string::<i32>().value(0).to_string(),
        year.as_primitive::<Int32Type>().value(0),
        gender.as_string::<i32>().value(0).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_subqueries_and_having_count_as_groups() {
    let (analyst, reader, _dir) = sessions(PRIVACY).await;
    let (c, y, g) = victim(&analyst).await;
    let join = "FROM orders o JOIN customers c ON c.customer_id = o.customer_id";
    let attr = format!("(VALUES ('{c}', {y}, '{g}')) v(city, y, g)");
    let key = "c.city || '/' || c.birth_year || '/' || c.gender";
    let attacks = [
        // A join to a one-row table of the victim's attributes.
        format!(
            "SELECT sum(o.amount) {join} JOIN {attr} ON c.city = v.city AND c.birth_year = v.y AND c.gender = v.g"
        ),
        // Everyone but the victim, by an anti join in three spellings.
        format!("SELECT sum(o.amount) {join} WHERE {key} NOT IN (SELECT '{c}/{y}/{g}')"),
        format!(
            "SELECT sum(o.amount) {join} WHERE NOT EXISTS (SELECT 1 FROM {attr} \
             WHERE v.city = c.city AND v.y = c.birth_year AND v.g = c.gender)"
        ),
        // Only the victim, by a semi join.
        format!(
            "SELECT sum(o.amount) {join} WHERE EXISTS (SELECT 1 FROM {attr} \
             WHERE v.city = c.city AND v.y = c.birth_year AND v.g = c.gender)"
        ),
        // HAVING over per-customer groups.
        format!(
            "SELECT sum(s) FROM (SELECT o.customer_id, sum(o.amount) AS s {join} \
             GROUP BY o.customer_id, c.city, c.birth_year, c.gender \
             HAVING NOT (c.city = '{c}' AND c.birth_year = {y} AND c.gender = '{g}'))"
        ),
    ];
    // The "everyone" half of each pair is allowed…
    let everyone = text(&reader, &format!("SELECT sum(o.amount) AS s {join}")).await;
    assert_eq!(
        everyone,
        text(&analyst, &format!("SELECT sum(o.amount) AS s {join}")).await
    );
    // …and the "everyone but one" (or "only one") half refused.
    for sql in &attacks {
        let err = error(&reader, sql).await;
        refused(&err, "filters count as groups");
        assert!(!err.contains(&c), "{err}");
        // The analyst gets an answer: the query itself is valid SQL.
        run(&analyst, sql).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_subqueries_over_many_customers_are_answered() {
    let (analyst, reader, _dir) = sessions(PRIVACY).await;
    for sql in [
        "SELECT count(*) AS n FROM customers WHERE customer_id IN \
         (SELECT customer_id FROM orders WHERE channel = 'web')",
        "SELECT count(*) AS n FROM customers c WHERE NOT EXISTS \
         (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id AND o.channel = 'web')",
        "SELECT count(*) AS n, sum(o.amount) AS s FROM orders o JOIN stores s ON s.store_id = o.store_id",
        "SELECT c.gender, count(*) AS n FROM customers c JOIN (VALUES ('F'), ('M')) v(g) \
         ON c.gender = v.g GROUP BY c.gender ORDER BY 1",
    ] {
        assert_eq!(text(&reader, sql).await, text(&analyst, sql).await, "{sql}");
    }
}
