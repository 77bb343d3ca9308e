//! `double_metaphone(value)` and `double_metaphone_alt(value)`: phonetic
//! codes, so names that sound alike block and compare together.

use datafusion_macros::user_doc;
use microseg_kernels::text::metaphone;

use super::{Kernel, TextFunction};
use crate::common::Param;

/// Codes are cut to the standard four characters, as blocking keys are.
const CODE_LENGTH: usize = 4;

fn code(mut code: String) -> Option<String> {
    code.truncate(CODE_LENGTH);
    Some(code)
}

const PRIMARY: &str = "double_metaphone";
const PRIMARY_PARAMS: &[Param] = &[Param::new(PRIMARY, 0, "value")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "The primary Double Metaphone code (Lawrence Philips, 2000; the rules of his \
reference C++ implementation) of value, cut to the standard 4 characters: names that sound \
alike share it (Smith, Smyth: SM0). Accented letters are folded first (é to e, ß to ss, ø to o, \
ü to u: the table of normalize_name without its German ae/oe/ue), so José and Jose agree; \
other non-ASCII characters are skipped. An empty string gives ''. NULL if value is NULL.",
    syntax_example = "double_metaphone(value)",
    sql_example = r#"```sql
> SELECT double_metaphone('Schmidt') AS schmidt, double_metaphone('Smith') AS smith, double_metaphone_alt('Smith') AS smith_alt;
+---------+-------+-----------+
| schmidt | smith | smith_alt |
+---------+-------+-----------+
| XMT     | SM0   | XMT       |
+---------+-------+-----------+
```"#,
    argument(name = "value", description = "A name or word.")
)]
struct DoubleMetaphoneDoc;

pub(super) fn double_metaphone() -> TextFunction {
    TextFunction::new(
        PRIMARY_PARAMS,
        1,
        Kernel::Text(|v| Ok(code(metaphone::double_metaphone(v[0]).0))),
        DoubleMetaphoneDoc.doc(),
    )
}

const ALT: &str = "double_metaphone_alt";
const ALT_PARAMS: &[Param] = &[Param::new(ALT, 0, "value")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "The alternate Double Metaphone code of value (4 characters at most), for \
names with a second common pronunciation (Schmidt: SMT beside XMT); equal to \
double_metaphone(value) where the rules see none. Same folding as double_metaphone. NULL if \
value is NULL.",
    syntax_example = "double_metaphone_alt(value)",
    sql_example = r#"```sql
> SELECT double_metaphone_alt('Schmidt') AS alt;
+-----+
| alt |
+-----+
| SMT |
+-----+
```"#,
    argument(name = "value", description = "A name or word.")
)]
struct DoubleMetaphoneAltDoc;

pub(super) fn double_metaphone_alt() -> TextFunction {
    TextFunction::new(
        ALT_PARAMS,
        1,
        Kernel::Text(|v| Ok(code(metaphone::double_metaphone(v[0]).1))),
        DoubleMetaphoneAltDoc.doc(),
    )
}
