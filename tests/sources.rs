//! The generator's raw-sources layer: the five `src_*` tables and
//! `_truth/identities` honour their contract, every record has exactly one
//! truth row, the noise shows up at the rates `sql/README.md` documents,
//! the hard negatives (household contacts) are there, and the other
//! tables are the same bytes with or without the layer.

use std::fs;
use std::path::PathBuf;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use microseg::generate::{GenerateOptions, generate};

use crate::generate::{files_under, scalar, snapshot};

fn options(customers: u64, out: PathBuf, sources: bool) -> GenerateOptions {
    GenerateOptions {
        customers,
        seed: 11,
        out,
        months: 24,
        as_of: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap(),
        threads: Some(2),
        sources,
        tables: None,
    }
}

/// Table folder, record id column, and columns (name, type, nullable),
/// written out from `sql/README.md` rather than from the generator's code.
type Contract = (&'static str, Vec<(&'static str, DataType, bool)>);

fn contract() -> Vec<Contract> {
    use DataType::{Boolean, Date32, Int64, Utf8};
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    vec![
        (
            "src_crm_contacts",
            vec![
                ("record_id", Int64, false),
                ("first_name", Utf8, true),
                ("last_name", Utf8, true),
                ("email", Utf8, true),
                ("phone", Utf8, true),
                ("street", Utf8, true),
                ("postal_code", Utf8, true),
                ("city", Utf8, true),
                ("country", Utf8, true),
                ("birth_date", Date32, true),
                ("created_ts", ts(), false),
                ("updated_ts", ts(), false),
            ],
        ),
        (
            "src_web_accounts",
            vec![
                ("account_id", Utf8, false),
                ("email", Utf8, false),
                ("first_name", Utf8, true),
                ("last_name", Utf8, true),
                ("phone", Utf8, true),
                ("birth_date", Date32, true),
                ("created_ts", ts(), false),
                ("last_login_ts", ts(), false),
            ],
        ),
        (
            "src_loyalty_cards",
            vec![
                ("card_number", Utf8, false),
                ("first_name", Utf8, true),
                ("last_name", Utf8, true),
                ("email", Utf8, true),
                ("phone", Utf8, true),
                ("postal_code", Utf8, true),
                ("city", Utf8, true),
                ("birth_date", Date32, true),
                ("issued_ts", ts(), false),
            ],
        ),
        (
            "src_support_contacts",
            vec![
                ("contact_id", Int64, false),
                ("full_name", Utf8, true),
                ("email", Utf8, true),
                ("phone", Utf8, true),
                ("channel", Utf8, false),
                ("created_ts", ts(), false),
            ],
        ),
        (
            "src_newsletter",
            vec![
                ("subscriber_id", Utf8, false),
                ("email", Utf8, false),
                ("first_name", Utf8, true),
                ("signup_source", Utf8, false),
                ("confirmed", Boolean, false),
                ("subscribed_ts", ts(), false),
            ],
        ),
        (
            "_truth/identities",
            vec![
                ("source", Utf8, false),
                ("record_key", Utf8, false),
                ("customer_id", Int64, false),
            ],
        ),
    ]
}

#[test]
fn the_other_tables_are_the_same_bytes_with_or_without_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let with = tmp.path().join("with");
    let without = tmp.path().join("without");
    let r_with = generate(&options(300, with.clone(), true), &|_, _| {}).unwrap();
    let r_without = generate(&options(300, without.clone(), false), &|_, _| {}).unwrap();
    let (a, b) = (snapshot(&with), snapshot(&without));
    for (path, bytes) in &b {
        assert!(
            a.get(path) == Some(bytes),
            "{} differs when the sources are written",
            path.display()
        );
    }
    let extra: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    assert!(!extra.is_empty());
    for k in extra {
        let top = k.iter().next().unwrap().to_str().unwrap();
        assert!(
            top.starts_with("src_") || k.starts_with("_truth/identities"),
            "unexpected extra file {}",
            k.display()
        );
    }
    let names = |r: &microseg::generate::GenerateReport| {
        r.tables.iter().map(|t| t.table.clone()).collect::<Vec<_>>()
    };
    assert!(
        names(&r_without)
            .iter()
            .all(|t| !t.starts_with("src_") && t != "_truth/identities")
    );
    assert_eq!(names(&r_with).len(), names(&r_without).len() + 6);

    // `tables`: only those per-customer tables (plus products, stores and
    // the persona truth), each the same bytes as in the full run.
    let only = tmp.path().join("only");
    let r_only = generate(
        &GenerateOptions {
            tables: Some(vec!["customers".into(), "orders".into()]),
            ..options(300, only.clone(), true)
        },
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(
        names(&r_only),
        [
            "customers",
            "products",
            "stores",
            "orders",
            "_truth/personas"
        ]
    );
    let c = snapshot(&only);
    for (path, bytes) in &c {
        assert!(a.get(path) == Some(bytes), "{} differs", path.display());
    }
    let tops: std::collections::BTreeSet<String> = c
        .keys()
        .map(|k| k.iter().next().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        tops,
        ["_truth", "customers", "orders", "products", "stores"]
            .map(String::from)
            .into()
    );
    // The drinks club is its own stream too: without it every other file
    // is the same bytes, and it writes its ratings and the tastes' truth.
    let dry = tmp.path().join("dry");
    let mut others: Vec<String> = microseg::generate::SELECTABLE
        .iter()
        .filter(|t| **t != "drink_ratings")
        .map(|t| t.to_string())
        .collect();
    others.sort();
    generate(
        &GenerateOptions {
            tables: Some(others),
            ..options(300, dry.clone(), true)
        },
        &|_, _| {},
    )
    .unwrap();
    let d = snapshot(&dry);
    let club =
        |k: &std::path::Path| k.starts_with("drink_ratings") || k.starts_with("_truth/tastes");
    assert!(a.keys().any(|k| k.starts_with("drink_ratings")));
    assert!(a.keys().any(|k| k.starts_with("_truth/tastes")));
    assert!(d.keys().all(|k| !club(k)));
    for (path, bytes) in a.iter().filter(|(k, _)| !club(k)) {
        assert!(
            d.get(path) == Some(bytes),
            "{} differs without the club",
            path.display()
        );
    }
    assert_eq!(d.len(), a.keys().filter(|k| !club(k)).count());
    // Every order of the full run is there.
    let orders = |root: &std::path::Path| {
        a.keys()
            .filter(|k| k.starts_with("orders"))
            .filter(|k| !root.join(k).exists())
            .count()
    };
    assert_eq!(orders(&only), 0);
    // A name it does not know is refused, naming it and the choices.
    let e = generate(
        &GenerateOptions {
            tables: Some(vec!["customers".into(), "order".into()]),
            ..options(10, tmp.path().join("bad"), true)
        },
        &|_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown table \"order\"") && e.contains("order_items"),
        "{e}"
    );
    assert!(!tmp.path().join("bad").exists());
}

/// The rates `sql/README.md` documents (section "Raw sources").
const EMAIL_CASE: f64 = 0.12;
const EMAIL_PLUS: f64 = 0.06;
const EMAIL_SPACE: f64 = 0.03;
const JUNK: f64 = 0.005;
const PHONE_FORMAT: f64 = 1.0 / 6.0;
const NATIVE_SPELLING: f64 = 0.15;
const MISSING_CRM_PHONE: f64 = 0.20;
const MISSING_LOYALTY_EMAIL: f64 = 0.40;
const MISSING_WEB_PHONE: f64 = 0.60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_honour_contract_truth_noise_and_hard_negatives() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let customers = 6_000;
    let report = generate(&options(customers, lake.clone(), true), &|_, _| {}).unwrap();
    let mut failures: Vec<String> = Vec::new();

    // Schema of every file, and rows against the report.
    for (table, want) in contract() {
        let files = files_under(&lake.join(table));
        let mut rows = 0;
        assert!(!files.is_empty(), "{table}: no files");
        for f in &files {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(fs::File::open(f).unwrap()).unwrap();
            rows += builder.metadata().file_metadata().num_rows() as u64;
            let got: Vec<(String, DataType, bool)> = builder
                .schema()
                .fields()
                .iter()
                .map(|fl| (fl.name().clone(), fl.data_type().clone(), fl.is_nullable()))
                .collect();
            let want: Vec<(String, DataType, bool)> = want
                .iter()
                .map(|(n, t, o)| (n.to_string(), t.clone(), *o))
                .collect();
            if got != want {
                failures.push(format!("{table}: schema of {}: {got:?}", f.display()));
            }
        }
        let reported = report
            .tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows);
        if reported != Some(rows) {
            failures.push(format!("{table}: report {reported:?}, files {rows}"));
        }
    }

    let ctx = SessionContext::new();
    for table in ["customers", "_truth/personas"]
        .into_iter()
        .chain(contract().iter().map(|c| c.0))
    {
        let name = table.trim_start_matches("_truth/");
        ctx.register_parquet(
            name,
            lake.join(table).to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    }
    // All records with the truth's customer, in one view.
    let sources = [
        (
            "src_crm_contacts",
            "CAST(record_id AS VARCHAR)",
            "first_name",
            "last_name",
            "email",
            "phone",
        ),
        (
            "src_web_accounts",
            "account_id",
            "first_name",
            "last_name",
            "email",
            "phone",
        ),
        (
            "src_loyalty_cards",
            "card_number",
            "first_name",
            "last_name",
            "email",
            "phone",
        ),
        (
            "src_support_contacts",
            "CAST(contact_id AS VARCHAR)",
            "full_name",
            "NULL",
            "email",
            "phone",
        ),
        (
            "src_newsletter",
            "subscriber_id",
            "first_name",
            "NULL",
            "email",
            "NULL",
        ),
    ];
    let union = sources
        .iter()
        .map(|(t, key, first, last, email, phone)| {
            format!(
                "SELECT '{t}' AS source, {key} AS record_key, CAST({first} AS VARCHAR) AS first_name, \
                 CAST({last} AS VARCHAR) AS last_name, {email} AS email, CAST({phone} AS VARCHAR) AS phone FROM {t}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    ctx.sql(&format!(
        "CREATE VIEW records AS SELECT r.*, i.customer_id FROM ({union}) r \
         LEFT JOIN identities i ON i.source = r.source AND i.record_key = r.record_key"
    ))
    .await
    .unwrap();

    // Truth completeness: one truth row per record, keys unique, customers real.
    let n_records = scalar(&ctx, "SELECT count(*) FROM records").await;
    let n_truth = scalar(&ctx, "SELECT count(*) FROM identities").await;
    let distinct = scalar(
        &ctx,
        "SELECT count(DISTINCT source || '/' || record_key) FROM identities",
    )
    .await;
    let matched = scalar(&ctx, "SELECT count(customer_id) FROM records").await;
    let orphans = scalar(
        &ctx,
        "SELECT count(*) FROM identities WHERE customer_id NOT IN (SELECT customer_id FROM customers)",
    )
    .await;
    if !(n_records == n_truth && distinct == n_truth && matched == n_records && orphans == 0.0) {
        failures.push(format!(
            "truth: {n_records} records, {n_truth} truth rows, {distinct} distinct, {matched} matched, {orphans} orphans"
        ));
    }
    let per_customer = n_records / customers as f64;
    if !(2.0..4.0).contains(&per_customer) {
        failures.push(format!("{per_customer:.2} records per customer"));
    }

    // Noise at the documented rates: (what, measured, documented, tolerance).
    let junk = "('', 'null', 'test@example.com', 'n/a')";
    let email_rate = |cond: &str| {
        format!(
            "SELECT avg(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END) FROM records \
             WHERE email IS NOT NULL AND trim(email) NOT IN {junk}"
        )
    };
    let mut rates = vec![
        ("upper-case e-mail", scalar(&ctx, &email_rate("regexp_like(email, '[A-Z]')")).await, EMAIL_CASE, 0.2),
        ("plus-tag", scalar(&ctx, &email_rate("strpos(email, '+') > 0")).await, EMAIL_PLUS, 0.2),
        ("blanks around e-mail", scalar(&ctx, &email_rate("email <> trim(email)")).await, EMAIL_SPACE, 0.25),
        (
            "junk e-mail",
            scalar(&ctx, &format!("SELECT avg(CASE WHEN email IN {junk} THEN 1.0 ELSE 0.0 END) FROM records WHERE email IS NOT NULL")).await,
            JUNK,
            0.5,
        ),
        (
            "phone as 00cc",
            scalar(&ctx, "SELECT avg(CASE WHEN starts_with(phone, '00') AND phone <> '0000000000' THEN 1.0 ELSE 0.0 END) FROM records WHERE phone IS NOT NULL").await,
            PHONE_FORMAT * (1.0 - JUNK),
            0.15,
        ),
        (
            "phone with +cc",
            scalar(&ctx, "SELECT avg(CASE WHEN starts_with(phone, '+') THEN 1.0 ELSE 0.0 END) FROM records WHERE phone IS NOT NULL").await,
            3.0 * PHONE_FORMAT * (1.0 - JUNK),
            0.1,
        ),
        (
            "native spelling of ASCII-written last names",
            scalar(&ctx, "SELECT avg(CASE WHEN regexp_like(r.last_name, '[^[:ascii:]]') THEN 1.0 ELSE 0.0 END) \
                         FROM records r JOIN customers c ON c.customer_id = r.customer_id \
                         WHERE r.last_name IS NOT NULL AND c.last_name IN \
                         ('Mueller', 'Krueger', 'Cerny', 'Dvorak', 'Prochazka', 'Novak', 'Sahin', 'Yilmaz')").await,
            NATIVE_SPELLING,
            0.25,
        ),
        (
            "CRM phone missing",
            scalar(&ctx, "SELECT avg(CASE WHEN phone IS NULL THEN 1.0 ELSE 0.0 END) FROM src_crm_contacts").await,
            MISSING_CRM_PHONE,
            0.15,
        ),
        (
            "loyalty e-mail missing",
            scalar(&ctx, "SELECT avg(CASE WHEN email IS NULL THEN 1.0 ELSE 0.0 END) FROM src_loyalty_cards").await,
            MISSING_LOYALTY_EMAIL,
            0.1,
        ),
        (
            "web phone missing",
            scalar(&ctx, "SELECT avg(CASE WHEN phone IS NULL THEN 1.0 ELSE 0.0 END) FROM src_web_accounts").await,
            MISSING_WEB_PHONE,
            0.1,
        ),
    ];
    // Nicknames and second addresses: present, not measured to a rate.
    let nicknames = scalar(
        &ctx,
        "SELECT count(*) FROM records r JOIN customers c ON c.customer_id = r.customer_id \
         WHERE (c.first_name = 'Thomas' AND r.first_name = 'Tom') OR (c.first_name = 'Katharina' AND r.first_name = 'Kathi') \
            OR (c.first_name = 'Florian' AND r.first_name = 'Flo') OR (c.first_name = 'Tobias' AND r.first_name = 'Tobi')",
    )
    .await;
    rates.push(("nicknames (count)", nicknames.min(1.0), 1.0, 0.0));
    // Moved customers: some records still carry the old city.
    let old_city = |moved: &str| {
        format!(
            "SELECT avg(CASE WHEN s.city <> c.city AND s.city NOT IN ('München', 'Köln', 'Düsseldorf', 'Praha', 'Wien', \
             'Bruxelles', 'Antwerpen', 'Gent', 'København') THEN 1.0 ELSE 0.0 END) \
             FROM src_crm_contacts s JOIN identities i ON i.source = 'src_crm_contacts' AND i.record_key = CAST(s.record_id AS VARCHAR) \
             JOIN customers c ON c.customer_id = i.customer_id JOIN personas p ON p.customer_id = c.customer_id \
             WHERE s.city IS NOT NULL AND p.life_event IS {moved} DISTINCT FROM 'moved'"
        )
    };
    let moved = scalar(&ctx, &old_city("NOT")).await;
    let stayed = scalar(&ctx, &old_city("")).await;
    if !(moved > 0.2 && stayed < 0.02) {
        failures.push(format!("old city: moved {moved:.3}, stayed {stayed:.3}"));
    }

    // Hard negatives: one address or number used by different customers.
    let shared_emails = scalar(
        &ctx,
        &format!(
            "SELECT count(*) FROM (SELECT lower(trim(email)) AS e FROM records WHERE email IS NOT NULL \
             AND trim(email) NOT IN {junk} GROUP BY 1 HAVING count(DISTINCT customer_id) > 1)"
        ),
    )
    .await;
    let shared_phones = scalar(
        &ctx,
        "SELECT count(*) FROM (SELECT right(regexp_replace(phone, '[^0-9]', '', 'g'), 10) AS p FROM records \
         WHERE phone IS NOT NULL AND phone NOT IN ('', 'null', '0000000000', 'n/a') GROUP BY 1 HAVING count(DISTINCT customer_id) > 1)",
    )
    .await;
    // 3,000 pairs, 10% households, both members using the shared contact at
    // least once in about 40% of them: ~120 each.
    if !(shared_emails > 60.0
        && shared_emails < 300.0
        && shared_phones > 40.0
        && shared_phones < 300.0)
    {
        failures.push(format!(
            "shared e-mails {shared_emails}, shared phones {shared_phones}"
        ));
    }

    for (what, got, want, tol) in &rates {
        let ok = (got - want).abs() <= tol * want.max(1e-9);
        println!("{what}: {got:.4} (documented {want:.4})");
        if !ok {
            failures.push(format!("{what}: measured {got:.4}, documented {want:.4}"));
        }
    }
    println!(
        "records per customer {per_customer:.2}; moved old city {moved:.3}; shared e-mails {shared_emails}, phones {shared_phones}"
    );
    assert!(
        failures.is_empty(),
        "source checks failed:\n- {}",
        failures.join("\n- ")
    );
}
