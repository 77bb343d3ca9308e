//! Table schemas (the lake contract), Arrow column builders fed straight
//! from the simulation, and a sink that streams them into Parquet files.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

use super::assortment::Assortment;
use super::persona::{ACQUISITION, PERSONAS};
use super::sim::{
    CHANNELS, Consent, DEVICES, EVENT_TYPES, Event, GENDERS, Item, LIFE_EVENTS, MARITAL, Order,
    PROMO_CODES, PURPOSES, Profile, Promo, STATUSES, Send, Ticket, World,
};
use super::sources;
use super::tastes::{Rating, TASTES};
use super::text::{TICKET_CHANNELS, TOPICS};
use super::vocabulary::{CATEGORIES, CITIES, SUBCATS};
use crate::error::{Error, Result};

/// Rows per Arrow batch handed to a Parquet writer. Small, because every
/// partition slot of every open table holds one batch in memory.
const BATCH_ROWS: usize = 4 * 1024;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Every folder the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Customers,
    Products,
    Stores,
    Orders,
    OrderItems,
    Events,
    Tickets,
    CampaignSends,
    Consents,
    SrcCrm,
    SrcWeb,
    SrcLoyalty,
    SrcSupport,
    SrcNewsletter,
    Truth,
    Identities,
    DrinkRatings,
    Tastes,
}

impl Table {
    /// Tables first, then the truth; the raw sources (`src_*` and
    /// `_truth/identities`) are [`Table::is_source`].
    pub const ALL: [Table; 18] = [
        Table::Customers,
        Table::Products,
        Table::Stores,
        Table::Orders,
        Table::OrderItems,
        Table::Events,
        Table::Tickets,
        Table::CampaignSends,
        Table::Consents,
        Table::SrcCrm,
        Table::SrcWeb,
        Table::SrcLoyalty,
        Table::SrcSupport,
        Table::SrcNewsletter,
        Table::Truth,
        Table::Identities,
        Table::DrinkRatings,
        Table::Tastes,
    ];

    /// Written by the raw-sources layer (skipped with `--no-sources`).
    pub fn is_source(self) -> bool {
        matches!(
            self,
            Table::SrcCrm
                | Table::SrcWeb
                | Table::SrcLoyalty
                | Table::SrcSupport
                | Table::SrcNewsletter
                | Table::Identities
        )
    }

    /// Folder below the lake root; also the table name in reports.
    pub fn dir(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Products => "products",
            Table::Stores => "stores",
            Table::Orders => "orders",
            Table::OrderItems => "order_items",
            Table::Events => "events",
            Table::Tickets => "tickets",
            Table::CampaignSends => "campaign_sends",
            Table::Consents => "consents",
            Table::SrcCrm => "src_crm_contacts",
            Table::SrcWeb => "src_web_accounts",
            Table::SrcLoyalty => "src_loyalty_cards",
            Table::SrcSupport => "src_support_contacts",
            Table::SrcNewsletter => "src_newsletter",
            Table::Truth => "_truth/personas",
            Table::Identities => "_truth/identities",
            Table::DrinkRatings => "drink_ratings",
            Table::Tastes => "_truth/tastes",
        }
    }

    /// The hive partition key, for monthly-partitioned tables.
    pub fn partition(self) -> Option<&'static str> {
        match self {
            Table::Orders | Table::OrderItems => Some("order_month"),
            Table::Events => Some("event_month"),
            _ => None,
        }
    }

    pub fn schema(self) -> SchemaRef {
        use DataType::{Boolean, Decimal128, Float64, Int32, Int64, Utf8};
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
        let req = |n: &str, t: DataType| Field::new(n, t, false);
        let opt = |n: &str, t: DataType| Field::new(n, t, true);
        let fields = match self {
            Table::Customers => vec![
                req("customer_id", Int64),
                req("email", Utf8),
                req("phone", Utf8),
                req("first_name", Utf8),
                req("last_name", Utf8),
                req("signup_ts", ts()),
                req("birth_year", Int32),
                req("gender", Utf8),
                req("marital_status", Utf8),
                req("city", Utf8),
                req("region", Utf8),
                req("country", Utf8),
                req("lat", Float64),
                req("lon", Float64),
                req("acquisition_channel", Utf8),
            ],
            Table::Products => vec![
                req("sku", Utf8),
                req("name", Utf8),
                req("category", Utf8),
                req("subcategory", Utf8),
                req("brand", Utf8),
                req("price", Decimal128(10, 2)),
            ],
            Table::Stores => vec![
                req("store_id", Int32),
                req("name", Utf8),
                req("city", Utf8),
                req("lat", Float64),
                req("lon", Float64),
            ],
            Table::Orders => vec![
                req("order_id", Int64),
                req("customer_id", Int64),
                req("order_ts", ts()),
                req("channel", Utf8),
                req("device", Utf8),
                opt("store_id", Int32),
                req("amount", Decimal128(12, 2)),
                req("discount", Decimal128(12, 2)),
                req("n_items", Int32),
                req("status", Utf8),
                opt("promo_code", Utf8),
            ],
            Table::OrderItems => vec![
                req("order_id", Int64),
                req("customer_id", Int64),
                req("sku", Utf8),
                req("category", Utf8),
                req("subcategory", Utf8),
                req("quantity", Int32),
                req("unit_price", Decimal128(10, 2)),
            ],
            Table::Events => vec![
                req("customer_id", Int64),
                req("event_ts", ts()),
                req("event_type", Utf8),
                opt("sku", Utf8),
                opt("category", Utf8),
                opt("search_query", Utf8),
                req("device", Utf8),
                req("channel", Utf8),
                opt("lat", Float64),
                opt("lon", Float64),
                opt("campaign_id", Utf8),
            ],
            Table::Tickets => vec![
                req("ticket_id", Int64),
                req("customer_id", Int64),
                req("created_ts", ts()),
                req("channel", Utf8),
                req("topic", Utf8),
                req("text", Utf8),
                opt("csat", Int32),
            ],
            Table::CampaignSends => vec![
                req("campaign_id", Utf8),
                req("customer_id", Int64),
                req("sent_ts", ts()),
                req("variant", Utf8),
                req("opened", Boolean),
                req("clicked", Boolean),
                req("converted", Boolean),
                req("revenue", Decimal128(12, 2)),
            ],
            Table::Consents => vec![
                req("customer_id", Int64),
                req("purpose", Utf8),
                req("granted", Boolean),
                req("ts", ts()),
            ],
            Table::DrinkRatings => vec![
                req("customer_id", Int64),
                req("sku", Utf8),
                req("rating", Int32),
                req("ts", ts()),
            ],
            Table::Tastes => vec![req("customer_id", Int64), req("taste", Utf8)],
            Table::Truth => vec![
                req("customer_id", Int64),
                req("persona", Utf8),
                opt("life_event", Utf8),
                opt("life_event_ts", ts()),
            ],
            source => sources::fields(source),
        };
        Arc::new(Schema::new(fields))
    }

    /// Columns with (almost) unique values: dictionary encoding would only
    /// cost hashing time before falling back to plain.
    fn plain_columns(self) -> &'static [&'static str] {
        match self {
            Table::Customers => &["customer_id", "email", "phone", "signup_ts", "lat", "lon"],
            Table::Orders => &["order_id", "customer_id", "order_ts", "amount", "discount"],
            Table::OrderItems => &["order_id", "customer_id"],
            Table::Events => &["customer_id", "event_ts", "lat", "lon"],
            Table::Tickets => &["ticket_id", "customer_id", "created_ts"],
            Table::CampaignSends => &["customer_id", "sent_ts", "revenue"],
            Table::Consents => &["customer_id", "ts"],
            Table::Truth => &["customer_id", "life_event_ts"],
            Table::DrinkRatings => &["customer_id", "ts"],
            Table::Tastes => &["customer_id"],
            Table::Products | Table::Stores => &[],
            source => sources::plain_columns(source),
        }
    }

    /// How the generator writes a table's files. LZ4 (raw) rather than
    /// zstd: files within 5% of zstd's size once the sorted integer columns
    /// are delta-encoded, and a scan of the order table decodes in two
    /// thirds of the time (benches/README.md, "The lake's encoding").
    pub fn writer_properties(self) -> WriterProperties {
        let mut b = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(None);
        let schema = self.schema();
        for c in self.plain_columns() {
            let path = ColumnPath::from(*c);
            b = b.set_column_dictionary_enabled(path.clone(), false);
            // Ids and times are written sorted or nearly (a file is ordered
            // by customer, then time): their deltas pack into a few bits.
            let integer = schema.field_with_name(c).is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    DataType::Int32 | DataType::Int64 | DataType::Timestamp(..)
                )
            });
            if integer {
                b = b.set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
        }
        b.build()
    }
}

pub(crate) fn parquet_err(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::DataFusion(DataFusionError::from(e))
}

fn arrow_err(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::DataFusion(DataFusionError::from(e))
}

/// An I/O error that names the path it happened on.
pub(crate) fn io_at(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

/// A set of column builders for one table.
pub(crate) trait Columns {
    fn new() -> Self;
    fn rows(&self) -> usize;
    fn finish(&mut self) -> Vec<ArrayRef>;
}

fn dec(precision: u8, rows: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(rows).with_data_type(DataType::Decimal128(precision, 2))
}

fn opt_str(b: &mut StringBuilder, v: Option<&str>) {
    match v {
        Some(s) => b.append_value(s),
        None => b.append_null(),
    }
}

/// NaN stands for "no coordinates" in the simulation.
fn opt_f64(b: &mut Float64Builder, v: f64) {
    if v.is_nan() {
        b.append_null()
    } else {
        b.append_value(v)
    }
}

macro_rules! columns {
    // `$init` builds an empty column for `n` rows.
    ($name:ident { $($col:ident : $ty:ty = $init:expr),* $(,)? } rows = $first:ident) => {
        pub(crate) struct $name { $($col: $ty),* }
        impl Columns for $name {
            fn new() -> Self {
                $name { $($col: ($init)(0)),* }
            }
            fn rows(&self) -> usize {
                self.$first.len()
            }
            fn finish(&mut self) -> Vec<ArrayRef> {
                // A slot that filled a batch will likely fill the next one:
                // size the fresh builders for it instead of regrowing them.
                let n = self.rows() + self.rows() / 8;
                vec![$(Arc::new(std::mem::replace(&mut self.$col, ($init)(n)).finish()) as ArrayRef),*]
            }
        }
    };
}

columns!(CustomerCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    email: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    phone: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    first_name: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    last_name: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    signup_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
    birth_year: Int32Builder = Int32Builder::with_capacity,
    gender: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    marital_status: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    city: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    region: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    country: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    lat: Float64Builder = Float64Builder::with_capacity,
    lon: Float64Builder = Float64Builder::with_capacity,
    acquisition_channel: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
} rows = customer_id);

impl CustomerCols {
    pub fn push(&mut self, p: &Profile, assortment: &Assortment) {
        // Writing into a string builder cannot fail.
        let _ = p.write_email(assortment, &mut self.email);
        self.email.append_value("");
        let city = &CITIES[p.city as usize];
        let _ = p.write_phone(&mut self.phone);
        self.phone.append_value("");
        self.customer_id.append_value(p.id);
        self.first_name.append_value(p.first_name());
        self.last_name.append_value(p.last_name());
        self.signup_ts.append_value(p.signup_us);
        self.birth_year.append_value(p.birth_year);
        self.gender.append_value(GENDERS[p.gender as usize]);
        self.marital_status
            .append_value(MARITAL[p.marital as usize]);
        self.city.append_value(city.name);
        self.region.append_value(city.region);
        self.country.append_value(city.country);
        self.lat.append_value(p.lat);
        self.lon.append_value(p.lon);
        self.acquisition_channel
            .append_value(ACQUISITION[p.acquisition as usize]);
    }
}

columns!(ProductCols {
    sku: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    name: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    category: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    subcategory: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    brand: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    price: Decimal128Builder = |n| dec(10, n),
} rows = sku);

impl ProductCols {
    pub fn push_all(&mut self, assortment: &Assortment) {
        for p in &assortment.products {
            let sc = &SUBCATS[p.subcat as usize];
            self.sku.append_value(&p.sku);
            self.name.append_value(&p.name);
            self.category.append_value(CATEGORIES[sc.category].name);
            self.subcategory.append_value(sc.name);
            self.brand.append_value(p.brand);
            self.price.append_value(p.price as i128);
        }
    }
}

columns!(StoreCols {
    store_id: Int32Builder = Int32Builder::with_capacity,
    name: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    city: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    lat: Float64Builder = Float64Builder::with_capacity,
    lon: Float64Builder = Float64Builder::with_capacity,
} rows = store_id);

impl StoreCols {
    pub fn push_all(&mut self, assortment: &Assortment) {
        for s in &assortment.stores {
            self.store_id.append_value(s.id);
            self.name.append_value(&s.name);
            self.city.append_value(CITIES[s.city].name);
            self.lat.append_value(s.lat);
            self.lon.append_value(s.lon);
        }
    }
}

columns!(OrderCols {
    order_id: Int64Builder = Int64Builder::with_capacity,
    customer_id: Int64Builder = Int64Builder::with_capacity,
    order_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
    channel: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    device: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    store_id: Int32Builder = Int32Builder::with_capacity,
    amount: Decimal128Builder = |n| dec(12, n),
    discount: Decimal128Builder = |n| dec(12, n),
    n_items: Int32Builder = Int32Builder::with_capacity,
    status: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    promo_code: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
} rows = order_id);

impl OrderCols {
    pub fn push(&mut self, customer: i64, o: &Order, w: &World) {
        self.order_id.append_value(o.id);
        self.customer_id.append_value(customer);
        self.order_ts.append_value(o.ts);
        self.channel.append_value(CHANNELS[o.channel as usize]);
        self.device.append_value(DEVICES[o.device as usize]);
        self.store_id
            .append_option(o.store.map(|s| w.assortment.stores[s as usize].id));
        self.amount.append_value(o.amount as i128);
        self.discount.append_value(o.discount as i128);
        self.n_items.append_value(o.n_items);
        self.status.append_value(STATUSES[o.status as usize]);
        match o.promo {
            Promo::None => self.promo_code.append_null(),
            Promo::Code(k) => self.promo_code.append_value(PROMO_CODES[k as usize].0),
            Promo::Campaign(c) => self
                .promo_code
                .append_value(&w.assortment.campaigns[c as usize].id),
        }
    }
}

columns!(ItemCols {
    order_id: Int64Builder = Int64Builder::with_capacity,
    customer_id: Int64Builder = Int64Builder::with_capacity,
    sku: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    category: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    subcategory: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    quantity: Int32Builder = Int32Builder::with_capacity,
    unit_price: Decimal128Builder = |n| dec(10, n),
} rows = order_id);

impl ItemCols {
    pub fn push(&mut self, customer: i64, order: i64, item: &Item, assortment: &Assortment) {
        let p = &assortment.products[item.product as usize];
        let sc = &SUBCATS[p.subcat as usize];
        self.order_id.append_value(order);
        self.customer_id.append_value(customer);
        self.sku.append_value(&p.sku);
        self.category.append_value(CATEGORIES[sc.category].name);
        self.subcategory.append_value(sc.name);
        self.quantity.append_value(item.qty);
        self.unit_price.append_value(item.price as i128);
    }
}

columns!(EventCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    event_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
    event_type: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    sku: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    category: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    search_query: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    device: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    channel: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    lat: Float64Builder = Float64Builder::with_capacity,
    lon: Float64Builder = Float64Builder::with_capacity,
    campaign_id: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
} rows = customer_id);

impl EventCols {
    pub fn push(&mut self, customer: i64, e: &Event, assortment: &Assortment) {
        self.customer_id.append_value(customer);
        self.event_ts.append_value(e.ts);
        self.event_type.append_value(EVENT_TYPES[e.kind as usize]);
        opt_str(
            &mut self.sku,
            e.product()
                .map(|p| assortment.products[p as usize].sku.as_str()),
        );
        opt_str(&mut self.category, e.category().map(|c| CATEGORIES[c].name));
        opt_str(&mut self.search_query, e.query());
        self.device.append_value(DEVICES[e.device as usize]);
        self.channel.append_value(CHANNELS[e.channel as usize]);
        opt_f64(&mut self.lat, e.lat);
        opt_f64(&mut self.lon, e.lon);
        opt_str(
            &mut self.campaign_id,
            e.campaign().map(|c| assortment.campaigns[c].id.as_str()),
        );
    }
}

columns!(TicketCols {
    ticket_id: Int64Builder = Int64Builder::with_capacity,
    customer_id: Int64Builder = Int64Builder::with_capacity,
    created_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
    channel: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    topic: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    text: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    csat: Int32Builder = Int32Builder::with_capacity,
} rows = ticket_id);

impl TicketCols {
    pub fn push(&mut self, customer: i64, t: &Ticket) {
        self.ticket_id.append_value(t.id);
        self.customer_id.append_value(customer);
        self.created_ts.append_value(t.ts);
        self.channel
            .append_value(TICKET_CHANNELS[t.channel as usize]);
        self.topic.append_value(TOPICS[t.text.topic as usize]);
        let _ = t.text.write_to(&mut self.text);
        self.text.append_value("");
        self.csat.append_option(t.csat);
    }
}

columns!(SendCols {
    campaign_id: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    customer_id: Int64Builder = Int64Builder::with_capacity,
    sent_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
    variant: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    opened: BooleanBuilder = BooleanBuilder::with_capacity,
    clicked: BooleanBuilder = BooleanBuilder::with_capacity,
    converted: BooleanBuilder = BooleanBuilder::with_capacity,
    revenue: Decimal128Builder = |n| dec(12, n),
} rows = customer_id);

impl SendCols {
    pub fn push(&mut self, customer: i64, s: &Send, assortment: &Assortment) {
        self.campaign_id
            .append_value(&assortment.campaigns[s.campaign as usize].id);
        self.customer_id.append_value(customer);
        self.sent_ts.append_value(s.ts);
        self.variant
            .append_value(if s.holdout { "holdout" } else { "treatment" });
        self.opened.append_value(s.opened);
        self.clicked.append_value(s.clicked);
        self.converted.append_value(s.converted);
        self.revenue.append_value(s.revenue as i128);
    }
}

columns!(ConsentCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    purpose: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    granted: BooleanBuilder = BooleanBuilder::with_capacity,
    ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
} rows = customer_id);

impl ConsentCols {
    pub fn push(&mut self, customer: i64, c: &Consent) {
        self.customer_id.append_value(customer);
        self.purpose.append_value(PURPOSES[c.purpose as usize]);
        self.granted.append_value(c.granted);
        self.ts.append_value(c.ts);
    }
}

columns!(RatingCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    sku: StringBuilder = |n| StringBuilder::with_capacity(n, 12 * n),
    rating: Int32Builder = Int32Builder::with_capacity,
    ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
} rows = customer_id);

impl RatingCols {
    pub fn push(&mut self, customer: i64, r: &Rating, a: &Assortment) {
        self.customer_id.append_value(customer);
        self.sku.append_value(&a.products[r.product as usize].sku);
        self.rating.append_value(r.stars);
        self.ts.append_value(r.ts);
    }
}

columns!(TasteCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    taste: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
} rows = customer_id);

impl TasteCols {
    pub fn push(&mut self, customer: i64, taste: usize) {
        self.customer_id.append_value(customer);
        self.taste.append_value(TASTES[taste].0);
    }
}

columns!(TruthCols {
    customer_id: Int64Builder = Int64Builder::with_capacity,
    persona: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    life_event: StringBuilder = |n| StringBuilder::with_capacity(n, 16 * n),
    life_event_ts: TimestampMicrosecondBuilder = TimestampMicrosecondBuilder::with_capacity,
} rows = customer_id);

impl TruthCols {
    pub fn push(&mut self, p: &Profile) {
        self.customer_id.append_value(p.id);
        self.persona.append_value(PERSONAS[p.persona as usize].name);
        opt_str(
            &mut self.life_event,
            p.life.map(|(k, _)| LIFE_EVENTS[k as usize]),
        );
        self.life_event_ts.append_option(p.life.map(|(_, ts)| ts));
    }
}

/// Opens a Parquet writer on a new file at `path`. The buffer is modest:
/// a worker keeps ~75 files open, and the writer hands over whole pages.
pub(crate) fn open_writer(table: Table, path: &Path) -> Result<ArrowWriter<BufWriter<File>>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io_at(dir, e))?;
    }
    let file = File::create(path).map_err(|e| io_at(path, e))?;
    ArrowWriter::try_new(
        BufWriter::with_capacity(64 << 10, file),
        table.schema(),
        Some(table.writer_properties()),
    )
    .map_err(parquet_err)
}

/// Writes the footer and flushes. Atomicity comes from the final folder
/// rename, not from fsync, so no sync is done here.
pub(crate) fn close_writer(w: ArrowWriter<BufWriter<File>>) -> Result<()> {
    let inner = w.into_inner().map_err(parquet_err)?;
    inner.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    Ok(())
}

struct Slot<C> {
    cols: Option<C>,
    writer: Option<ArrowWriter<BufWriter<File>>>,
}

/// Streams one table's rows into Parquet: one file per slot (per month for
/// partitioned tables), each opened on its first batch, so memory stays at a
/// batch per slot plus the writers' row-group buffers.
pub(crate) struct Sink<'a, C: Columns> {
    table: Table,
    schema: SchemaRef,
    root: PathBuf,
    file_name: String,
    labels: &'a [String],
    slots: Vec<Slot<C>>,
    rows: u64,
    files: u64,
}

impl<'a, C: Columns> Sink<'a, C> {
    /// `labels` are the partition values (one slot each) of a partitioned
    /// table and are ignored otherwise.
    pub fn new(table: Table, root: &Path, file_name: String, labels: &'a [String]) -> Self {
        let n = if table.partition().is_some() {
            labels.len()
        } else {
            1
        };
        Sink {
            table,
            schema: table.schema(),
            root: root.join(table.dir()),
            file_name,
            labels,
            slots: (0..n)
                .map(|_| Slot {
                    cols: None,
                    writer: None,
                })
                .collect(),
            rows: 0,
            files: 0,
        }
    }

    #[inline]
    pub fn cols(&mut self, slot: usize) -> &mut C {
        self.slots[slot].cols.get_or_insert_with(C::new)
    }

    /// Writes out every slot holding at least a full batch.
    pub fn flush_full(&mut self) -> Result<()> {
        for i in 0..self.slots.len() {
            if self.slots[i]
                .cols
                .as_ref()
                .is_some_and(|c| c.rows() >= BATCH_ROWS)
            {
                self.write_slot(i)?;
            }
        }
        Ok(())
    }

    fn write_slot(&mut self, i: usize) -> Result<()> {
        let Some(cols) = self.slots[i].cols.as_mut() else {
            return Ok(());
        };
        let n = cols.rows();
        if n == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols.finish()).map_err(arrow_err)?;
        if self.slots[i].writer.is_none() {
            let dir = match self.table.partition() {
                Some(key) => self.root.join(format!("{key}={}", self.labels[i])),
                None => self.root.clone(),
            };
            self.slots[i].writer = Some(open_writer(self.table, &dir.join(&self.file_name))?);
            self.files += 1;
        }
        let w = self.slots[i].writer.as_mut().expect("writer opened above");
        w.write(&batch).map_err(parquet_err)?;
        self.rows += n as u64;
        Ok(())
    }

    /// Flushes every slot and closes its file; returns (rows, files).
    pub fn finish(mut self) -> Result<(u64, u64)> {
        for i in 0..self.slots.len() {
            self.write_slot(i)?;
            if let Some(w) = self.slots[i].writer.take() {
                close_writer(w)?;
            }
        }
        Ok((self.rows, self.files))
    }
}

/// Builds a batch from filled columns (for tables written elsewhere).
pub(crate) fn batch<C: Columns>(table: Table, mut cols: C) -> Result<RecordBatch> {
    RecordBatch::try_new(table.schema(), cols.finish()).map_err(arrow_err)
}

/// Writes a single-file table (`part-0.parquet`) from filled columns.
pub(crate) fn write_single<C: Columns>(table: Table, root: &Path, cols: C) -> Result<(u64, u64)> {
    let b = batch(table, cols)?;
    let mut w = open_writer(table, &root.join(table.dir()).join("part-0.parquet"))?;
    w.write(&b).map_err(parquet_err)?;
    close_writer(w)?;
    Ok((b.num_rows() as u64, 1))
}
