//! The raw-source tables' schemas (part of the lake contract) and their
//! column builders.

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

use crate::generate::tables::{Columns, Table};

/// One source record before it is written: the union of the sources'
/// fields; each table takes the ones it has.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rec {
    /// The record id before formatting; also the order rows are written in.
    pub id: u64,
    pub customer: i64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub street: Option<String>,
    pub postal: Option<String>,
    pub city: Option<String>,
    pub country: Option<&'static str>,
    /// Days since 1970-01-01.
    pub birth: Option<i32>,
    pub created: i64,
    pub other_ts: Option<i64>,
    pub tag: &'static str,
    pub flag: bool,
}

/// Table indices for the const parameter of [`SourceCols`].
pub(crate) const CRM: u8 = 0;
pub(crate) const WEB: u8 = 1;
pub(crate) const LOYALTY: u8 = 2;
pub(crate) const SUPPORT: u8 = 3;
pub(crate) const NEWSLETTER: u8 = 4;
pub(crate) const IDENTITIES: u8 = 5;

pub(crate) const fn table_of(kind: u8) -> Table {
    match kind {
        CRM => Table::SrcCrm,
        WEB => Table::SrcWeb,
        LOYALTY => Table::SrcLoyalty,
        SUPPORT => Table::SrcSupport,
        NEWSLETTER => Table::SrcNewsletter,
        _ => Table::Identities,
    }
}

/// Columns of the source tables and of `_truth/identities`.
pub(crate) fn fields(t: Table) -> Vec<Field> {
    use DataType::{Boolean, Date32, Int64, Utf8};
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    let req = |n: &str, t: DataType| Field::new(n, t, false);
    let opt = |n: &str, t: DataType| Field::new(n, t, true);
    match t {
        Table::SrcCrm => vec![
            req("record_id", Int64),
            opt("first_name", Utf8),
            opt("last_name", Utf8),
            opt("email", Utf8),
            opt("phone", Utf8),
            opt("street", Utf8),
            opt("postal_code", Utf8),
            opt("city", Utf8),
            opt("country", Utf8),
            opt("birth_date", Date32),
            req("created_ts", ts()),
            req("updated_ts", ts()),
        ],
        Table::SrcWeb => vec![
            req("account_id", Utf8),
            req("email", Utf8),
            opt("first_name", Utf8),
            opt("last_name", Utf8),
            opt("phone", Utf8),
            opt("birth_date", Date32),
            req("created_ts", ts()),
            req("last_login_ts", ts()),
        ],
        Table::SrcLoyalty => vec![
            req("card_number", Utf8),
            opt("first_name", Utf8),
            opt("last_name", Utf8),
            opt("email", Utf8),
            opt("phone", Utf8),
            opt("postal_code", Utf8),
            opt("city", Utf8),
            opt("birth_date", Date32),
            req("issued_ts", ts()),
        ],
        Table::SrcSupport => vec![
            req("contact_id", Int64),
            opt("full_name", Utf8),
            opt("email", Utf8),
            opt("phone", Utf8),
            req("channel", Utf8),
            req("created_ts", ts()),
        ],
        Table::SrcNewsletter => vec![
            req("subscriber_id", Utf8),
            req("email", Utf8),
            opt("first_name", Utf8),
            req("signup_source", Utf8),
            req("confirmed", Boolean),
            req("subscribed_ts", ts()),
        ],
        _ => vec![
            req("source", Utf8),
            req("record_key", Utf8),
            req("customer_id", Int64),
        ],
    }
}

/// Columns with (almost) unique values, written without dictionaries.
pub(crate) fn plain_columns(t: Table) -> &'static [&'static str] {
    match t {
        Table::SrcCrm => &[
            "record_id",
            "email",
            "phone",
            "street",
            "created_ts",
            "updated_ts",
        ],
        Table::SrcWeb => &[
            "account_id",
            "email",
            "phone",
            "created_ts",
            "last_login_ts",
        ],
        Table::SrcLoyalty => &["card_number", "email", "phone", "issued_ts"],
        Table::SrcSupport => &["contact_id", "email", "phone", "created_ts"],
        Table::SrcNewsletter => &["subscriber_id", "email", "subscribed_ts"],
        _ => &["record_key", "customer_id"],
    }
}

/// The record id as written: numbers for CRM and support, strings shaped
/// like their systems' ids for the others.
pub(crate) fn write_key(kind: u8, id: u64, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match kind {
        WEB => write!(out, "u{}", base36(id)),
        LOYALTY => write!(out, "9{id:015}"),
        NEWSLETTER => write!(out, "nl-{id:012x}"),
        _ => write!(out, "{id}"),
    };
}

pub(crate) fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = Vec::with_capacity(13);
    loop {
        buf.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    buf.reverse();
    String::from_utf8(buf).expect("ascii digits")
}

/// Builders for every field a source may have; `finish` emits those of
/// table `K` in its schema order.
pub(crate) struct SourceCols<const K: u8> {
    int_id: Int64Builder,
    str_id: StringBuilder,
    first: StringBuilder,
    last: StringBuilder,
    email: StringBuilder,
    phone: StringBuilder,
    street: StringBuilder,
    postal: StringBuilder,
    city: StringBuilder,
    country: StringBuilder,
    birth: Date32Builder,
    created: TimestampMicrosecondBuilder,
    other_ts: TimestampMicrosecondBuilder,
    tag: StringBuilder,
    flag: BooleanBuilder,
    customer: Int64Builder,
    rows: usize,
}

impl<const K: u8> Columns for SourceCols<K> {
    fn new() -> Self {
        let s = || StringBuilder::new();
        SourceCols {
            int_id: Int64Builder::new(),
            str_id: s(),
            first: s(),
            last: s(),
            email: s(),
            phone: s(),
            street: s(),
            postal: s(),
            city: s(),
            country: s(),
            birth: Date32Builder::new(),
            created: TimestampMicrosecondBuilder::new(),
            other_ts: TimestampMicrosecondBuilder::new(),
            tag: s(),
            flag: BooleanBuilder::new(),
            customer: Int64Builder::new(),
            rows: 0,
        }
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        // Every builder is emptied (the ones this table lacks were fed too).
        let f = |x: &mut dyn ArrayBuilder| -> ArrayRef { x.finish() };
        let int_id = f(&mut self.int_id);
        let str_id = f(&mut self.str_id);
        let first = f(&mut self.first);
        let last = f(&mut self.last);
        let email = f(&mut self.email);
        let phone = f(&mut self.phone);
        let street = f(&mut self.street);
        let postal = f(&mut self.postal);
        let city = f(&mut self.city);
        let country = f(&mut self.country);
        let birth = f(&mut self.birth);
        let created = f(&mut self.created);
        let other_ts = f(&mut self.other_ts);
        let tag = f(&mut self.tag);
        let flag = f(&mut self.flag);
        let customer = f(&mut self.customer);
        match K {
            CRM => vec![
                int_id, first, last, email, phone, street, postal, city, country, birth, created,
                other_ts,
            ],
            WEB => vec![str_id, email, first, last, phone, birth, created, other_ts],
            LOYALTY => vec![
                str_id, first, last, email, phone, postal, city, birth, created,
            ],
            SUPPORT => vec![int_id, first, email, phone, tag, created],
            NEWSLETTER => vec![str_id, email, first, tag, flag, created],
            _ => vec![tag, str_id, customer],
        }
    }
}

impl<const K: u8> SourceCols<K> {
    /// Appends a record of this source (every builder, so the unused ones
    /// stay aligned and cheap).
    pub fn push(&mut self, r: &Rec, key: &str) {
        if matches!(K, CRM | SUPPORT) {
            self.int_id.append_value(r.id as i64);
        } else {
            self.str_id.append_value(key);
        }
        let opt = |b: &mut StringBuilder, v: &Option<String>| b.append_option(v.as_deref());
        opt(&mut self.first, &r.first);
        opt(&mut self.last, &r.last);
        // Web logins and newsletter addresses are required: present always.
        opt(&mut self.email, &r.email);
        opt(&mut self.phone, &r.phone);
        opt(&mut self.street, &r.street);
        opt(&mut self.postal, &r.postal);
        opt(&mut self.city, &r.city);
        self.country.append_option(r.country);
        self.birth.append_option(r.birth);
        self.created.append_value(r.created);
        self.other_ts.append_option(r.other_ts);
        self.tag.append_value(r.tag);
        self.flag.append_value(r.flag);
        self.rows += 1;
    }

    /// Appends a truth row: source table, record key, customer.
    pub fn push_truth(&mut self, source: &str, key: &str, customer: i64) {
        self.tag.append_value(source);
        self.str_id.append_value(key);
        self.customer.append_value(customer);
        self.rows += 1;
    }
}
