//! String similarity and edit distances over Unicode scalar values (characters, not bytes),
//! case-sensitive: compare normalized values for case-insensitive results.

/// Jaro similarity in [0, 1]: 1 for identical strings (two empty strings
/// included), 0 when one is empty or nothing matches.
///
/// Characters match when equal and at most `max(|a|, |b|) / 2 - 1`
/// positions apart; with m matches and t half the number of matched
/// characters out of order, jaro = (m/|a| + m/|b| + (m - t)/m) / 3.
pub fn jaro(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    jaro_chars(&a, &b)
}

fn jaro_chars(a: &[char], b: &[char]) -> f64 {
    if a == b {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut b_used = vec![false; b.len()];
    let mut a_matched = Vec::with_capacity(a.len());
    for (i, &c) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        if let Some(j) = (lo..hi).find(|&j| !b_used[j] && b[j] == c) {
            b_used[j] = true;
            a_matched.push(c);
        }
    }
    let m = a_matched.len();
    if m == 0 {
        return 0.0;
    }
    let b_matched = b
        .iter()
        .zip(&b_used)
        .filter(|(_, used)| **used)
        .map(|(c, _)| c);
    let out_of_order = a_matched
        .iter()
        .zip(b_matched)
        .filter(|(x, y)| x != y)
        .count();
    let m = m as f64;
    let t = (out_of_order / 2) as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0
}

/// Jaro–Winkler similarity with the standard settings: prefix scale 0.1,
/// common prefix counted up to 4 characters, applied only when the Jaro
/// similarity exceeds 0.7 (Winkler's boost threshold, as jellyfish,
/// rapidfuzz and DuckDB do): jw = jaro + min(prefix, 4) · 0.1 · (1 − jaro).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let jaro = jaro_chars(&a, &b);
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a.iter().zip(&b).take(4).take_while(|(x, y)| x == y).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

/// The true (unrestricted) Damerau–Levenshtein distance: the fewest
/// insertions, deletions, substitutions and transpositions of two adjacent
/// characters turning `a` into `b`, where a transposed pair may be edited
/// again (so "ca" → "abc" is 2; optimal string alignment would say 3).
/// Lowrance–Wagner dynamic programme, O(|a|·|b|) time and memory.
pub fn damerau_levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let infinity = n + m;
    // d has a border row and column of `infinity` before the usual ones.
    let width = m + 2;
    let mut d = vec![0usize; (n + 2) * width];
    let at = |i: usize, j: usize| i * width + j;
    d[at(0, 0)] = infinity;
    for i in 0..=n {
        d[at(i + 1, 0)] = infinity;
        d[at(i + 1, 1)] = i;
    }
    for j in 0..=m {
        d[at(0, j + 1)] = infinity;
        d[at(1, j + 1)] = j;
    }
    // Last row of `a` (1-based) where each character was seen; names have
    // few distinct characters, so a short list beats hashing.
    let mut last_row: Vec<(char, usize)> = Vec::new();
    for i in 1..=n {
        let mut last_match_col = 0;
        for j in 1..=m {
            let i1 = last_row
                .iter()
                .find(|(c, _)| *c == b[j - 1])
                .map_or(0, |(_, row)| *row);
            let j1 = last_match_col;
            let cost = if a[i - 1] == b[j - 1] {
                last_match_col = j;
                0
            } else {
                1
            };
            let substitute = d[at(i, j)] + cost;
            let insert = d[at(i + 1, j)] + 1;
            let delete = d[at(i, j + 1)] + 1;
            let transpose = d[at(i1, j1)] + (i - i1 - 1) + 1 + (j - j1 - 1);
            d[at(i + 1, j + 1)] = substitute.min(insert).min(delete).min(transpose);
        }
        match last_row.iter_mut().find(|(c, _)| *c == a[i - 1]) {
            Some(entry) => entry.1 = i,
            None => last_row.push((a[i - 1], i)),
        }
    }
    d[at(n + 1, m + 1)]
}

/// The Levenshtein distance: the fewest insertions, deletions and
/// substitutions of characters turning `a` into `b` (two rows of the
/// Wagner–Fischer table).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0usize; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Winkler's (1990) textbook pairs, as printed in the literature:
    /// MARTHA/MARHTA jaro 0.944, jw 0.961; DWAYNE/DUANE jw 0.84;
    /// DIXON/DICKSONX jw 0.813.
    #[test]
    fn textbook_pairs() {
        assert!(close(jaro("MARTHA", "MARHTA"), 17.0 / 18.0));
        assert!(close(
            jaro_winkler("MARTHA", "MARHTA"),
            0.961_111_111_111_111_1
        ));
        assert!(close(jaro_winkler("DWAYNE", "DUANE"), 0.84));
        assert!((jaro_winkler("DIXON", "DICKSONX") - 0.8133).abs() < 1e-4);
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("a", ""), 0.0);
        assert_eq!(jaro_winkler("abc", "xyz"), 0.0);
    }

    #[test]
    fn levenshtein_textbook() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        // A transposition is two edits without Damerau's rule.
        assert_eq!(levenshtein("abcdef", "abdcef"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("Jürgen", "Jurgen"), 1);
    }

    #[test]
    fn damerau_counts_transpositions() {
        assert_eq!(damerau_levenshtein("ca", "abc"), 2);
        assert_eq!(damerau_levenshtein("abcdef", "abdcef"), 1);
        assert_eq!(damerau_levenshtein("kitten", "sitting"), 3);
        assert_eq!(damerau_levenshtein("", "abc"), 3);
        assert_eq!(damerau_levenshtein("Jürgen", "Jügren"), 1);
        assert_eq!(damerau_levenshtein("", ""), 0);
    }
}
