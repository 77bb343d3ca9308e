//! `customer_match_normalize(kind, value [, default_region])` and
//! `customer_match_hash(…)`: identifiers prepared for Google Ads Customer
//! Match uploads — normalized by its published rules, then SHA-256.

use std::fmt::Write;

use datafusion::common::Result;
use datafusion_macros::user_doc;
use microseg_kernels::text::{email, name, phone};
use sha2::{Digest, Sha256};

use super::{Kernel, TextFunction};
use crate::common::Param;

/// The kinds of identifier, as the `kind` argument spells them.
const KINDS: [&str; 5] = ["email", "phone", "first_name", "last_name", "street"];

/// A planning error for a constant `kind` that is not one of [`KINDS`].
fn check_kind(param: Param, kind: &str) -> Result<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(param.error(unknown_kind(kind)))
    }
}

/// The normalized form of `value` for `kind`; `None` when invalid.
fn normalize(kind_param: Param, v: &[&str]) -> Result<Option<String>> {
    let (kind, value, region) = (v[0], v[1], v.get(2).copied());
    Ok(match kind {
        "email" => email::customer_match_email(value),
        "phone" => phone::e164(value, region),
        "first_name" | "last_name" | "street" => name::customer_match_text(value),
        other => return Err(kind_param.exec_error(unknown_kind(other))),
    })
}

fn unknown_kind(kind: &str) -> String {
    format!("must be one of {}, got '{kind}'", KINDS.join(", "))
}

/// Lowercase hexadecimal SHA-256 of the UTF-8 bytes of `text`.
fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing into a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

const NORMALIZE: &str = "customer_match_normalize";
const NORMALIZE_PARAMS: &[Param] = &[
    Param::new(NORMALIZE, 0, "kind"),
    Param::new(NORMALIZE, 1, "value"),
    Param::new(NORMALIZE, 2, "default_region"),
];

#[user_doc(
    doc_section(label = "Privacy Functions"),
    description = "value normalized by Google Ads Customer Match's published rules, the text \
that customer_match_hash hashes. email: trimmed, lowercased, and for gmail.com and \
googlemail.com the dots of the local part removed; nothing else (plus-tags and the domain \
stay). phone: E.164 with the leading '+', national numbers completed with default_region (the \
rules and covered regions of normalize_phone). first_name, last_name, street: trimmed and \
lowercased (Unicode), accents kept. NULL for an invalid value (an address without exactly \
one '@' or with inner spaces, a phone number of impossible length or unknown region, an \
empty name) and if any argument is NULL. Country and postal code are uploaded unhashed, so \
they are no kind here. An unknown kind is an error naming the argument.",
    syntax_example = "customer_match_normalize(kind, value [, default_region])",
    sql_example = r#"```sql
> SELECT customer_match_normalize('email', ' Jane.Doe+news@GMail.com ') AS email,
         customer_match_normalize('phone', '(800)555-0100', 'US') AS phone;
+------------------------+--------------+
| email                  | phone        |
+------------------------+--------------+
| janedoe+news@gmail.com | +18005550100 |
+------------------------+--------------+
```"#,
    argument(
        name = "kind",
        description = "One of 'email', 'phone', 'first_name', 'last_name', 'street'."
    ),
    argument(name = "value", description = "The identifier as stored."),
    argument(
        name = "default_region",
        description = "For phone: ISO 3166 code of national numbers' country, such as 'DE'; \
without it only international numbers are accepted. Ignored for other kinds."
    )
)]
struct CustomerMatchNormalizeDoc;

pub(super) fn customer_match_normalize() -> TextFunction {
    TextFunction::new(
        NORMALIZE_PARAMS,
        2,
        Kernel::Text(|v| normalize(NORMALIZE_PARAMS[0], v)),
        CustomerMatchNormalizeDoc.doc(),
    )
    .with_literal_check((0, |kind| check_kind(NORMALIZE_PARAMS[0], kind)))
}

const HASH: &str = "customer_match_hash";
const HASH_PARAMS: &[Param] = &[
    Param::new(HASH, 0, "kind"),
    Param::new(HASH, 1, "value"),
    Param::new(HASH, 2, "default_region"),
];

#[user_doc(
    doc_section(label = "Privacy Functions"),
    description = "Lowercase hexadecimal SHA-256 of customer_match_normalize(kind, value [, \
default_region]), ready for a Google Ads Customer Match upload (hashedEmail, \
hashedPhoneNumber, hashedFirstName, hashedLastName, hashedStreetAddress). NULL where the \
normalized value is NULL, so an invalid value is never hashed. An unknown kind is an error \
naming the argument.",
    syntax_example = "customer_match_hash(kind, value [, default_region])",
    sql_example = r#"```sql
> SELECT customer_match_hash('phone', '+1 800 555 0100') AS phone;
+------------------------------------------------------------------+
| phone                                                            |
+------------------------------------------------------------------+
| fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30 |
+------------------------------------------------------------------+
```"#,
    argument(
        name = "kind",
        description = "One of 'email', 'phone', 'first_name', 'last_name', 'street'."
    ),
    argument(name = "value", description = "The identifier as stored."),
    argument(
        name = "default_region",
        description = "For phone: ISO 3166 code of national numbers' country, such as 'DE'."
    )
)]
struct CustomerMatchHashDoc;

pub(super) fn customer_match_hash() -> TextFunction {
    TextFunction::new(
        HASH_PARAMS,
        2,
        Kernel::Text(|v| Ok(normalize(HASH_PARAMS[0], v)?.map(|n| sha256_hex(&n)))),
        CustomerMatchHashDoc.doc(),
    )
    .with_literal_check((0, |kind| check_kind(HASH_PARAMS[0], kind)))
}
