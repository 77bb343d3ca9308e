//! The lake contract, written out independently of the generator's own schema code.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// A table's folder, its hive partition key and its columns.
pub(super) type TableContract = (
    &'static str,
    Option<&'static str>,
    Vec<(&'static str, DataType)>,
);

/// The contract, written out independently of the generator's own schema code.
pub(super) fn contract() -> Vec<TableContract> {
    use DataType::{Boolean, Decimal128, Float64, Int32, Int64, Utf8};
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    vec![
        (
            "customers",
            None,
            vec![
                ("customer_id", Int64),
                ("email", Utf8),
                ("phone", Utf8),
                ("first_name", Utf8),
                ("last_name", Utf8),
                ("signup_ts", ts()),
                ("birth_year", Int32),
                ("gender", Utf8),
                ("marital_status", Utf8),
                ("city", Utf8),
                ("region", Utf8),
                ("country", Utf8),
                ("lat", Float64),
                ("lon", Float64),
                ("acquisition_channel", Utf8),
            ],
        ),
        (
            "products",
            None,
            vec![
                ("sku", Utf8),
                ("name", Utf8),
                ("category", Utf8),
                ("subcategory", Utf8),
                ("brand", Utf8),
                ("price", Decimal128(10, 2)),
            ],
        ),
        (
            "stores",
            None,
            vec![
                ("store_id", Int32),
                ("name", Utf8),
                ("city", Utf8),
                ("lat", Float64),
                ("lon", Float64),
            ],
        ),
        (
            "orders",
            Some("order_month"),
            vec![
                ("order_id", Int64),
                ("customer_id", Int64),
                ("order_ts", ts()),
                ("channel", Utf8),
                ("device", Utf8),
                ("store_id", Int32),
                ("amount", Decimal128(12, 2)),
                ("discount", Decimal128(12, 2)),
                ("n_items", Int32),
                ("status", Utf8),
                ("promo_code", Utf8),
            ],
        ),
        (
            "order_items",
            Some("order_month"),
            vec![
                ("order_id", Int64),
                ("customer_id", Int64),
                ("sku", Utf8),
                ("category", Utf8),
                ("subcategory", Utf8),
                ("quantity", Int32),
                ("unit_price", Decimal128(10, 2)),
            ],
        ),
        (
            "events",
            Some("event_month"),
            vec![
                ("customer_id", Int64),
                ("event_ts", ts()),
                ("event_type", Utf8),
                ("sku", Utf8),
                ("category", Utf8),
                ("search_query", Utf8),
                ("device", Utf8),
                ("channel", Utf8),
                ("lat", Float64),
                ("lon", Float64),
                ("campaign_id", Utf8),
            ],
        ),
        (
            "tickets",
            None,
            vec![
                ("ticket_id", Int64),
                ("customer_id", Int64),
                ("created_ts", ts()),
                ("channel", Utf8),
                ("topic", Utf8),
                ("text", Utf8),
                ("csat", Int32),
            ],
        ),
        (
            "campaign_sends",
            None,
            vec![
                ("campaign_id", Utf8),
                ("customer_id", Int64),
                ("sent_ts", ts()),
                ("variant", Utf8),
                ("opened", Boolean),
                ("clicked", Boolean),
                ("converted", Boolean),
                ("revenue", Decimal128(12, 2)),
            ],
        ),
        (
            "consents",
            None,
            vec![
                ("customer_id", Int64),
                ("purpose", Utf8),
                ("granted", Boolean),
                ("ts", ts()),
            ],
        ),
        (
            "_truth/personas",
            None,
            vec![
                ("customer_id", Int64),
                ("persona", Utf8),
                ("life_event", Utf8),
                ("life_event_ts", ts()),
            ],
        ),
    ]
}
