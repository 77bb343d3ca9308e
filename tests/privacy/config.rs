//! `[privacy]` in microseg.toml: defaults, validation against the registered
//! tables (after renames), and `--config` that may not drop the section.

use datafusion::arrow::array::{BooleanArray, Int64Array, StringArray};
use microseg::{Engine, EngineOptions};

use crate::support::{assert_contains_all, batch, col, write_bytes, write_parquet};

/// customers (renamed to clients by the config tests that need it),
/// products (no key), consents.
pub(super) fn tiny_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_parquet(
        &root.join("customers/part-0.parquet"),
        &batch(vec![
            ("customer_id", col(Int64Array::from(vec![1, 2]))),
            (
                "email",
                col(StringArray::from(vec!["a@x.test", "b@x.test"])),
            ),
        ]),
    );
    write_parquet(
        &root.join("products/part-0.parquet"),
        &batch(vec![("product_id", col(Int64Array::from(vec![1])))]),
    );
    write_parquet(
        &root.join("consents/part-0.parquet"),
        &batch(vec![
            ("customer_id", col(Int64Array::from(vec![1]))),
            ("purpose", col(StringArray::from(vec!["email_marketing"]))),
            ("granted", col(BooleanArray::from(vec![true]))),
        ]),
    );
    dir
}

async fn open_with(dir: &std::path::Path, toml: &str) -> Result<Engine, String> {
    write_bytes(&dir.join("microseg.toml"), toml.as_bytes());
    Engine::open(dir.to_str().unwrap(), EngineOptions::default())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn absent_section_gives_the_defaults() {
    let dir = tiny_lake();
    let engine = Engine::open(dir.path().to_str().unwrap(), EngineOptions::default())
        .await
        .unwrap();
    let privacy = engine.privacy();
    assert_eq!(privacy.entity_key, "customer_id");
    assert_eq!(privacy.roles.reader.min_group_size, 10);
    assert!(privacy.personal_columns.is_empty());
}

#[tokio::test]
async fn entries_are_checked_against_registered_tables() {
    let dir = tiny_lake();
    let renamed = "[tables.customers]\nname = \"clients\"\n";
    let engine = open_with(
        dir.path(),
        &format!(
            "{renamed}[privacy]\npersonal_columns = [\"clients.email\"]\npublic_tables = [\"products\"]\n[privacy.roles.reader]\nmin_group_size = 50\n"
        ),
    )
    .await
    .unwrap();
    assert_eq!(engine.privacy().roles.reader.min_group_size, 50);
    assert_eq!(engine.privacy().personal_columns, ["clients.email"]);

    for (section, needles) in [
        (
            "personal_columns = [\"customers.email\"]",
            vec!["\"customers.email\"", "no table customers"],
        ),
        (
            "personal_columns = [\"clients.phone\"]",
            vec!["\"clients.phone\"", "no column phone"],
        ),
        (
            "personal_columns = [\"email\"]",
            vec!["\"email\"", "table.column"],
        ),
        (
            "public_tables = [\"shops\"]",
            vec!["public_tables", "\"shops\""],
        ),
        (
            "public_tables = [\"clients\"]",
            vec!["\"clients\"", "entity key customer_id"],
        ),
        (
            "consent_table = \"consents\"",
            vec!["consent_table", "no column ts"],
        ),
        (
            "consent_table = \"nope\"",
            vec!["consent_table", "\"nope\""],
        ),
        ("entity_key = \"Customer Id\"", vec!["privacy.entity_key"]),
        ("min_group = 3", vec!["min_group"]),
    ] {
        let err = open_with(dir.path(), &format!("{renamed}[privacy]\n{section}\n"))
            .await
            .err()
            .unwrap_or_else(|| panic!("{section}: opened"));
        let mut needles = needles;
        needles.push("microseg.toml");
        assert_contains_all(&err, &needles);
    }
    let err = open_with(
        dir.path(),
        "[privacy.roles.reader]\nsmall_groups = \"hide\"\n",
    )
    .await
    .err()
    .unwrap();
    assert_contains_all(&err, &["small_groups", "hide", "microseg.toml"]);
}

#[tokio::test]
async fn config_override_may_not_drop_the_section() {
    let dir = tiny_lake();
    write_bytes(
        &dir.path().join("microseg.toml"),
        b"[privacy]\n[privacy.roles.reader]\nmin_group_size = 50\n",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let without = elsewhere.path().join("without.toml");
    write_bytes(&without, b"[engine]\ntarget_partitions = 2\n");
    let options = EngineOptions {
        config: Some(without.clone()),
        ..EngineOptions::default()
    };
    let err = Engine::open(dir.path().to_str().unwrap(), options)
        .await
        .err()
        .expect("dropping [privacy] is refused")
        .to_string();
    assert_contains_all(&err, &["without.toml", "[privacy]", "microseg.toml"]);

    // Restating the section (here changing the minimum) is allowed.
    let with = elsewhere.path().join("with.toml");
    write_bytes(&with, b"[privacy.roles.reader]\nmin_group_size = 20\n");
    let options = EngineOptions {
        config: Some(with),
        ..EngineOptions::default()
    };
    let engine = Engine::open(dir.path().to_str().unwrap(), options)
        .await
        .unwrap();
    assert_eq!(engine.privacy().roles.reader.min_group_size, 20);
}
