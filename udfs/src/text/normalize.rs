//! `normalize_email`, `normalize_phone`, `normalize_name`: the keys of
//! identity matching. These are matching rules (plus-tags dropped, accents
//! folded), not the upload rules of `customer_match_normalize`.

use datafusion_macros::user_doc;
use microseg_kernels::text::{email, name, phone};

use super::{Kernel, TextFunction};
use crate::common::Param;

const EMAIL: &str = "normalize_email";
const EMAIL_PARAMS: &[Param] = &[Param::new(EMAIL, 0, "value")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "The matching key of an e-mail address: trimmed, lowercased, the plus-tag \
('+' and what follows it in the local part) removed for every domain, and for gmail.com and \
googlemail.com the dots of the local part removed and the domain written gmail.com. NULL for \
a value that is not local@domain (exactly one '@', both parts non-empty, no inner \
whitespace) or whose local part ends up empty. For ad uploads use customer_match_normalize, \
which keeps plus-tags.",
    syntax_example = "normalize_email(value)",
    sql_example = r#"```sql
> SELECT normalize_email(' Jane.Doe+news@GoogleMail.com ') AS gmail, normalize_email('Jane.Doe+x@Example.com') AS other;
+-------------------+----------------------+
| gmail             | other                |
+-------------------+----------------------+
| janedoe@gmail.com | jane.doe@example.com |
+-------------------+----------------------+
```"#,
    argument(name = "value", description = "An e-mail address.")
)]
struct NormalizeEmailDoc;

pub(super) fn normalize_email() -> TextFunction {
    TextFunction::new(
        EMAIL_PARAMS,
        1,
        Kernel::Text(|v| Ok(email::match_email(v[0]))),
        NormalizeEmailDoc.doc(),
    )
}

const PHONE: &str = "normalize_phone";
const PHONE_PARAMS: &[Param] = &[
    Param::new(PHONE, 0, "value"),
    Param::new(PHONE, 1, "default_region"),
];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "A phone number in E.164 ('+' country code and national number, digits \
only), read as libphonenumber reads it: '+' or the region's international prefix (00; 011 \
for US/CA) starts an international number, anything else is a national number of \
default_region whose trunk prefix (0; 1 for US/CA) is dropped, also in '+49 (0)30 …'. \
Covered regions: DE NL BE FR AT CZ CH IT ES PT IE GB DK SE PL US CA. NULL when the number \
has letters or other characters than digits, spaces, - . / ( ) and a leading +; a length \
the country does not use; a country code or default region outside the covered ones; or a \
national number with a NULL or unknown default_region. Same rules as \
customer_match_normalize('phone', …).",
    syntax_example = "normalize_phone(value, default_region)",
    sql_example = r#"```sql
> SELECT normalize_phone('030 1234567', 'DE') AS national, normalize_phone('+49 (0)30 123 45 67', 'FR') AS international;
+--------------+---------------+
| national     | international |
+--------------+---------------+
| +49301234567 | +49301234567  |
+--------------+---------------+
```"#,
    argument(name = "value", description = "A phone number as typed."),
    argument(
        name = "default_region",
        description = "ISO 3166 code (any case) of the country of national numbers, such as 'DE'."
    )
)]
struct NormalizePhoneDoc;

pub(super) fn normalize_phone() -> TextFunction {
    TextFunction::new(
        PHONE_PARAMS,
        2,
        Kernel::Text(|v| Ok(phone::e164(v[0], Some(v[1])))),
        NormalizePhoneDoc.doc(),
    )
}

const NAME: &str = "normalize_name";
const NAME_PARAMS: &[Param] = &[Param::new(NAME, 0, "value")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "The matching form of a name: lowercased; accents folded with the German \
transliteration for ä ö ü (ae oe ue, so Jürgen = Juergen) and the plain letter otherwise \
(José = Jose, Dvořák = dvorak), ß to ss, æ to ae, œ to oe, ø to o, ł to l, þ to th (every \
letter of Latin-1 and Latin Extended-A; other characters kept); apostrophes removed \
(O'Brien = obrien); every other character that is not a letter or digit becomes a space \
(Jean-Pierre = jean pierre); spaces collapsed and trimmed. NULL when nothing is left.",
    syntax_example = "normalize_name(value)",
    sql_example = r#"```sql
> SELECT normalize_name(' Jürgen ') AS a, normalize_name('JUERGEN') AS b, normalize_name('José-María  O''Brien') AS c;
+---------+---------+-------------------+
| a       | b       | c                 |
+---------+---------+-------------------+
| juergen | juergen | jose maria obrien |
+---------+---------+-------------------+
```"#,
    argument(name = "value", description = "A first name, last name or full name.")
)]
struct NormalizeNameDoc;

pub(super) fn normalize_name() -> TextFunction {
    TextFunction::new(
        NAME_PARAMS,
        1,
        Kernel::Text(|v| Ok(name::match_name(v[0]))),
        NormalizeNameDoc.doc(),
    )
}
