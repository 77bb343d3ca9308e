//! `jaro_winkler(a, b)` and `damerau_levenshtein(a, b)`: string similarity
//! for record linkage (DataFusion's own `levenshtein` covers plain edits).

use datafusion_macros::user_doc;
use microseg_kernels::text::similarity;

use super::{Kernel, TextFunction};
use crate::common::Param;

const JW: &str = "jaro_winkler";
const JW_PARAMS: &[Param] = &[Param::new(JW, 0, "a"), Param::new(JW, 1, "b")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "Jaro-Winkler similarity of two strings, from 0 (nothing in common) to 1 \
(identical, two empty strings included), over characters, case-sensitive. Standard settings: \
jaro = (m/|a| + m/|b| + (m - t)/m) / 3 with m characters matching within max(|a|, |b|)/2 - 1 \
positions and t half the matched characters out of order; when jaro > 0.7 the common prefix \
(at most 4 characters) lifts it: jaro + prefix * 0.1 * (1 - jaro). Agrees with Python's \
jellyfish.jaro_winkler_similarity and DuckDB's jaro_winkler_similarity. NULL if either \
argument is NULL.",
    syntax_example = "jaro_winkler(a, b)",
    sql_example = r#"```sql
> SELECT round(jaro_winkler('MARTHA', 'MARHTA'), 4) AS jw;
+--------+
| jw     |
+--------+
| 0.9611 |
+--------+
```"#,
    argument(name = "a", description = "Text."),
    argument(name = "b", description = "Text.")
)]
struct JaroWinklerDoc;

pub(super) fn jaro_winkler() -> TextFunction {
    TextFunction::new(
        JW_PARAMS,
        2,
        Kernel::Float(|v| similarity::jaro_winkler(v[0], v[1])),
        JaroWinklerDoc.doc(),
    )
}

const DL: &str = "damerau_levenshtein";
const DL_PARAMS: &[Param] = &[Param::new(DL, 0, "a"), Param::new(DL, 1, "b")];

#[user_doc(
    doc_section(label = "Text Functions"),
    description = "The true (unrestricted) Damerau-Levenshtein distance: the fewest insertions, \
deletions, substitutions and transpositions of two adjacent characters that turn a into b, \
where a transposed pair may be edited again (so 'ca' to 'abc' is 2, where the restricted \
optimal-string-alignment distance says 3). Over characters, case-sensitive. Agrees with \
Python's jellyfish.damerau_levenshtein_distance. NULL if either argument is NULL.",
    syntax_example = "damerau_levenshtein(a, b)",
    sql_example = r#"```sql
> SELECT damerau_levenshtein('Jürgen', 'Jügren') AS swapped, damerau_levenshtein('ca', 'abc') AS d;
+---------+---+
| swapped | d |
+---------+---+
| 1       | 2 |
+---------+---+
```"#,
    argument(name = "a", description = "Text."),
    argument(name = "b", description = "Text.")
)]
struct DamerauLevenshteinDoc;

pub(super) fn damerau_levenshtein() -> TextFunction {
    TextFunction::new(
        DL_PARAMS,
        2,
        Kernel::Int(|v| similarity::damerau_levenshtein(v[0], v[1]) as i64),
        DamerauLevenshteinDoc.doc(),
    )
}
