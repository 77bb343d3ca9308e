//! Flight SQL metadata calls: catalogs, schemas, tables, types, keys.

use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};

use super::{fetch, fixture, logged_in, pretty};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_every_catalog_schema_and_table() {
    let f = fixture().await;
    let mut ana = logged_in(&f, "ana", "ana-pw").await;
    ana.execute_update("CREATE VIEW recent AS SELECT * FROM orders".into(), None)
        .await
        .unwrap();
    let mut c = logged_in(&f, "rita", "rita-pw").await;
    let info = c.get_catalogs().await.unwrap();
    let batches = fetch(&mut c, info).await;
    assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() >= 1);

    let info = c
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .unwrap();
    let text = pretty(&fetch(&mut c, info).await);
    assert!(
        text.contains("datafusion") && text.contains("public"),
        "{text}"
    );

    let info = c
        .get_tables(CommandGetTables {
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches[0].schema().as_ref(), &announced);
    let text = pretty(&batches);
    for table in [
        "customers",
        "orders",
        "recent",
        "df_settings",
        "TABLE",
        "VIEW",
    ] {
        assert!(text.contains(table), "{table} missing:\n{text}");
    }

    let info = c
        .get_tables(CommandGetTables {
            table_name_filter_pattern: Some("cust%".into()),
            table_types: vec!["TABLE".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let batches = fetch(&mut c, info).await;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1, "{}", pretty(&batches));

    let info = c
        .get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None })
        .await
        .unwrap();
    let text = pretty(&fetch(&mut c, info).await);
    assert!(
        text.contains("VARCHAR") && text.contains("TIMESTAMP"),
        "{text}"
    );
    let info = c
        .get_primary_keys(arrow_flight::sql::CommandGetPrimaryKeys {
            table: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(batches.iter().all(|b| b.schema().as_ref() == &announced));

    // The lake declares no keys: empty, in the schema Flight SQL defines.
    let info = c
        .get_cross_reference(arrow_flight::sql::CommandGetCrossReference {
            pk_table: "customers".into(),
            fk_table: "orders".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    let names: Vec<&str> = announced
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "pk_catalog_name",
            "pk_db_schema_name",
            "pk_table_name",
            "pk_column_name",
            "fk_catalog_name",
            "fk_db_schema_name",
            "fk_table_name",
            "fk_column_name",
            "key_sequence",
            "fk_key_name",
            "pk_key_name",
            "update_rule",
            "delete_rule"
        ]
    );
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(batches.iter().all(|b| b.schema().as_ref() == &announced));

    let info = c.get_sql_info(vec![]).await.unwrap();
    assert!(!fetch(&mut c, info).await.is_empty());
    let info = c.get_table_types().await.unwrap();
    assert_eq!(fetch(&mut c, info).await[0].num_rows(), 2);
    f.server.shutdown().await.unwrap();
}
