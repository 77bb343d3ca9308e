//! `sentiment(text)` and `sentiment_label(text)`: how positive a short text
//! such as a support ticket is, from our own word lexicon.
//!
//! The lexicon is `sentiment_lexicon.txt` beside this file: one `word weight`
//! pair per line, weights from -4 to +4, `#` comments and blank lines
//! ignored. Scoring a text:
//!
//! 1. The text is lower-cased and split into words (runs of letters, digits
//!    and apostrophes). `, . ; : ! ? ( )` and the word `but` end a clause.
//! 2. Intensifiers (`very` ×1.5, `extremely` ×1.8, `slightly` ×0.5, … see
//!    [`INTENSIFIERS`]) multiply the weight of the next word; several in a
//!    row multiply together (`really very good`).
//! 3. A negator (`not`, `no`, `never`, `without`, any `…n't`, … see
//!    [`NEGATORS`]) multiplies the weight of every lexicon word among the
//!    next three words of its clause by [`NEGATION`] (-0.7): `not happy` is
//!    negative, `not a single problem` positive, and a negated word counts
//!    a little less than a plain one.
//! 4. The adjusted weights are summed to `s`, and the score is
//!    `tanh(s / 4)`: within (-1, 1), 0 for a text without lexicon words, one
//!    clear word (weight 2.5) about ±0.55, and strong texts near ±1.
//!
//! `sentiment_label` cuts the score at ±[`LABEL_THRESHOLD`] (0.15).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Float64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::common::{Param, check_arity, map_texts, param_names, text_type};

/// The lexicon as shipped with the crate.
const LEXICON_TEXT: &str = include_str!("sentiment_lexicon.txt");

/// The factor a negated word's weight is multiplied by.
pub const NEGATION: f64 = -0.7;

/// How many words after a negator it reaches.
const NEGATION_SCOPE: usize = 3;

/// The scale of the squashing `tanh(s / SCALE)`: a sum of 4 (one strong
/// word, or two clear ones) scores about 0.76.
const SCALE: f64 = 4.0;

/// A score at or above this is 'positive', at or below its negative
/// 'negative', anything between 'neutral'. About one mild word (weight
/// 0.6 or more) is needed to leave neutral.
pub const LABEL_THRESHOLD: f64 = 0.15;

/// Words that turn the meaning of the next few words around. Any word
/// ending in `n't` (or `nt` for the common apostrophe-less spellings
/// below) is a negator too.
pub const NEGATORS: &[&str] = &[
    "not", "no", "never", "neither", "nor", "without", "hardly", "barely", "cannot", "dont",
    "doesnt", "didnt", "isnt", "wasnt", "werent", "arent", "cant", "couldnt", "wont", "wouldnt",
    "shouldnt", "havent", "hasnt", "hadnt", "aint",
];

/// Words that scale the next word's weight, and by how much.
pub const INTENSIFIERS: &[(&str, f64)] = &[
    ("extremely", 1.8),
    ("incredibly", 1.8),
    ("utterly", 1.8),
    ("absolutely", 1.6),
    ("very", 1.5),
    ("really", 1.5),
    ("super", 1.5),
    ("highly", 1.5),
    ("totally", 1.5),
    ("completely", 1.5),
    ("terribly", 1.5),
    ("awfully", 1.5),
    ("so", 1.4),
    ("truly", 1.4),
    ("particularly", 1.3),
    ("especially", 1.3),
    ("too", 1.3),
    ("much", 1.2),
    ("quite", 1.2),
    ("rather", 0.8),
    ("fairly", 0.7),
    ("somewhat", 0.6),
    ("bit", 0.6),
    ("little", 0.6),
    ("slightly", 0.5),
];

/// Parses the lexicon format described in the module documentation.
fn parse_lexicon(text: &str) -> Result<HashMap<&str, f64>> {
    let mut words = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad =
            |what: &str| exec_datafusion_err!("sentiment lexicon line {}: {what}", number + 1);
        let mut fields = line.split_whitespace();
        let (Some(word), Some(weight), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("expected `word weight`"));
        };
        let weight: f64 = weight.parse().map_err(|_| bad("weight is not a number"))?;
        if !(-4.0..=4.0).contains(&weight) {
            return Err(bad("weight must be between -4 and 4"));
        }
        if word
            .chars()
            .any(|c| !(c.is_lowercase() || c.is_ascii_digit() || c == '\''))
        {
            return Err(bad(
                "word must be lower-case letters, digits or apostrophes",
            ));
        }
        if words.insert(word, weight).is_some() {
            return Err(bad("word listed twice"));
        }
    }
    Ok(words)
}

static LEXICON: LazyLock<HashMap<&'static str, f64>> = LazyLock::new(|| {
    parse_lexicon(LEXICON_TEXT).expect("the built-in lexicon is validated by the unit tests")
});

fn is_negator(word: &str) -> bool {
    NEGATORS.contains(&word) || word.ends_with("n't")
}

fn intensity(word: &str) -> Option<f64> {
    INTENSIFIERS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, factor)| *factor)
}

/// Whether `c` closes a clause, ending negations and pending intensifiers.
fn ends_clause(c: char) -> bool {
    matches!(c, ',' | '.' | ';' | ':' | '!' | '?' | '(' | ')')
}

/// Walks the words of a text, keeping the running sum of adjusted weights.
#[derive(Default)]
struct Scorer {
    sum: f64,
    /// Product of the intensifiers seen since the last ordinary word.
    boost: Option<f64>,
    /// Words left in the scope of the last negator.
    negated_for: usize,
}

impl Scorer {
    fn word(&mut self, word: &str) {
        if is_negator(word) {
            self.negated_for = NEGATION_SCOPE;
            return;
        }
        if word == "but" {
            self.end_clause();
            return;
        }
        if let Some(factor) = intensity(word) {
            self.boost = Some(self.boost.unwrap_or(1.0) * factor);
            self.negated_for = self.negated_for.saturating_sub(1);
            return;
        }
        if let Some(weight) = LEXICON.get(word) {
            let negation = if self.negated_for > 0 { NEGATION } else { 1.0 };
            self.sum += weight * self.boost.unwrap_or(1.0) * negation;
        }
        self.boost = None;
        self.negated_for = self.negated_for.saturating_sub(1);
    }

    fn end_clause(&mut self) {
        self.boost = None;
        self.negated_for = 0;
    }
}

/// The sentiment score of `text` in (-1, 1), by the rule in the module
/// documentation.
pub fn sentiment_score(text: &str) -> f64 {
    let mut scorer = Scorer::default();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '\u{2019}' {
            if c == '\u{2019}' {
                word.push('\'');
            } else {
                word.extend(c.to_lowercase());
            }
            continue;
        }
        if !word.is_empty() {
            scorer.word(&word);
            word.clear();
        }
        if ends_clause(c) {
            scorer.end_clause();
        }
    }
    if !word.is_empty() {
        scorer.word(&word);
    }
    (scorer.sum / SCALE).tanh()
}

/// The label of a score: 'negative', 'neutral' or 'positive'.
pub fn label_of(score: f64) -> &'static str {
    if score >= LABEL_THRESHOLD {
        "positive"
    } else if score <= -LABEL_THRESHOLD {
        "negative"
    } else {
        "neutral"
    }
}

fn text_param_type(param: Param, data_type: &DataType) -> Result<DataType> {
    text_type(param, data_type, "text")
}

const SENTIMENT: &str = "sentiment";
const SENTIMENT_TEXT: Param = Param::new(SENTIMENT, 0, "text");

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "Sentiment of an English text as a number in (-1, 1): negative for complaints, \
positive for praise, 0 when no word of microseg's own lexicon (about 360 words weighted -4 to +4) \
occurs. The lexicon (udfs/src/context/sentiment_lexicon.txt) holds one 'word weight' pair per \
line, '#' comments allowed. Words are scored by their lexicon weight; an intensifier multiplies the next word \
(very x1.5, really x1.5, so x1.4, extremely x1.8, slightly x0.5, ...); a negator (not, no, never, \
without, any ...n't) multiplies every lexicon word among its next three words by -0.7, so \
'not happy' is negative and 'not a single problem' positive. Punctuation and 'but' end a \
negation. The score is tanh(sum / 4). NULL if text is NULL.",
    syntax_example = "sentiment(text)",
    sql_example = r#"```sql
> SELECT round(sentiment('I am not happy with the delivery.'), 3) AS complaint,
         round(sentiment('Not a single problem with the app, great job.'), 3) AS praise;
+-----------+--------+
| complaint | praise |
+-----------+--------+
| -0.412    | 0.8    |
+-----------+--------+
```"#,
    argument(name = "text", description = "The text to score (any string type).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sentiment {
    signature: Signature,
}

impl Sentiment {
    /// The `sentiment` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[SENTIMENT_TEXT]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for Sentiment {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Sentiment {
    fn name(&self) -> &str {
        SENTIMENT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(SENTIMENT, arg_types.len(), 1..=1)?;
        Ok(vec![text_param_type(SENTIMENT_TEXT, &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let scores: Float64Array = map_texts(&texts, |t| Ok(t.map(sentiment_score)))?;
        Ok(ColumnarValue::Array(Arc::new(scores)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

const LABEL: &str = "sentiment_label";
const LABEL_TEXT: Param = Param::new(LABEL, 0, "text");

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "The sentiment of a text as a label: 'positive' when sentiment(text) >= 0.15, \
'negative' when it is <= -0.15, 'neutral' otherwise (no lexicon word, or only mild ones that \
cancel out). NULL if text is NULL.",
    syntax_example = "sentiment_label(text)",
    sql_example = r#"```sql
> SELECT sentiment_label('The delivery was terrible.') AS a,
         sentiment_label('Could you tell me the status of the payment?') AS b,
         sentiment_label('Love it! The app worked perfectly.') AS c;
+----------+---------+----------+
| a        | b       | c        |
+----------+---------+----------+
| negative | neutral | positive |
+----------+---------+----------+
```"#,
    argument(name = "text", description = "The text to label (any string type).")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SentimentLabel {
    signature: Signature,
}

impl SentimentLabel {
    /// The `sentiment_label` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[LABEL_TEXT]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for SentimentLabel {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for SentimentLabel {
    fn name(&self) -> &str {
        LABEL
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(LABEL, arg_types.len(), 1..=1)?;
        Ok(vec![text_param_type(LABEL_TEXT, &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let labels: StringArray =
            map_texts(&texts, |t| Ok(t.map(|t| label_of(sentiment_score(t)))))?;
        Ok(ColumnarValue::Array(Arc::new(labels)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, LargeStringArray, StringViewArray};

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn lexicon_parses_and_has_a_few_hundred_words() {
        let words = parse_lexicon(LEXICON_TEXT).unwrap();
        assert!(words.len() >= 300, "{}", words.len());
        for word in words.keys() {
            assert!(!is_negator(word), "{word} is a negator and a lexicon word");
            assert!(
                intensity(word).is_none(),
                "{word} is an intensifier and a lexicon word"
            );
        }
    }

    #[test]
    fn lexicon_format_errors_name_the_line() {
        let err = |text: &str| parse_lexicon(text).unwrap_err().to_string();
        assert!(err("# c\ngood 2\ngood 3").contains("line 3: word listed twice"));
        assert!(err("good").contains("line 1: expected `word weight`"));
        assert!(err("good x").contains("weight is not a number"));
        assert!(err("good 5").contains("between -4 and 4"));
        assert!(err("Good 1").contains("lower-case"));
    }

    /// Scores worked out by hand from the rule and the lexicon weights.
    #[test]
    fn rule_by_hand() {
        // good 2
        close(sentiment_score("good"), (2.0_f64 / 4.0).tanh());
        // very 1.5 x good 2 = 3
        close(sentiment_score("Very good!"), (3.0_f64 / 4.0).tanh());
        // not: -0.7 x good 2
        close(sentiment_score("not good"), (-1.4_f64 / 4.0).tanh());
        // not very good: -0.7 x 1.5 x 2 = -2.1
        close(sentiment_score("not very good"), (-2.1_f64 / 4.0).tanh());
        // really 1.5 x very 1.5 x bad -2.5 = -5.625
        close(
            sentiment_score("really very bad"),
            (-5.625_f64 / 4.0).tanh(),
        );
        // happy 2.5 negated by don't, then the clause ends at the comma: great 3 counts fully.
        close(
            sentiment_score("I don't feel happy, great though"),
            ((-0.7 * 2.5 + 3.0) / 4.0_f64).tanh(),
        );
        // Three words of scope: "problem" is the third, "bad" the fourth.
        close(
            sentiment_score("no real big problem bad"),
            ((-0.7 * -2.0 - 2.5) / 4.0_f64).tanh(),
        );
        // "but" ends the negation.
        close(
            sentiment_score("not good but fine"),
            ((-1.4 + 1.0) / 4.0_f64).tanh(),
        );
        // Curly apostrophes and upper case.
        close(
            sentiment_score("DON\u{2019}T LOVE IT"),
            (-2.1_f64 / 4.0).tanh(),
        );
        assert_eq!(sentiment_score(""), 0.0);
        assert_eq!(sentiment_score("the status of my order"), 0.0);
    }

    #[test]
    fn labels_at_the_thresholds() {
        assert_eq!(label_of(0.15), "positive");
        assert_eq!(label_of(0.1499), "neutral");
        assert_eq!(label_of(0.0), "neutral");
        assert_eq!(label_of(-0.15), "negative");
        assert_eq!(label_of(-0.9), "negative");
    }

    /// The first letter upper-cased, as the generator writes sentence starts.
    fn cap(s: &str) -> String {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }

    /// Every ticket text the lake generator can write (its templates in
    /// `src/generate/text.rs`, with every object and intensifier) gets the
    /// label it was generated with.
    #[test]
    fn generated_ticket_texts() {
        let objects = [
            "the delivery",
            "the return",
            "the payment",
            "the product",
            "my account",
            "the app",
        ];
        let intensifiers = ["very", "really", "extremely", "so"];
        let negative = |o: &str, i: &str| {
            vec![
                format!("I am {i} disappointed with {o}."),
                format!("Not happy at all with {o}, this is the second time."),
                format!("{} was terrible and nobody answered my emails.", cap(o)),
                format!("{} frustrated: {o} is still not sorted out.", cap(i)),
                format!("I am not satisfied with {o}. Please fix this."),
                format!("Very bad experience with {o}, I want my money back."),
                format!("{} is not working and I am {i} annoyed.", cap(o)),
                format!("I am not happy with {o} and will not order again."),
            ]
        };
        let neutral = |o: &str, _: &str| {
            vec![
                format!("Could you tell me the status of {o}?"),
                format!("I have a question about {o}."),
                format!("Please send me an update on {o} when you can."),
                format!("How do I change the details of {o}?"),
                format!("Just checking whether {o} is handled by email or by phone."),
            ]
        };
        let positive = |o: &str, i: &str| {
            vec![
                format!("I am {i} happy with {o}, thank you!"),
                format!("{} was great, {i} quick and easy.", cap(o)),
                format!("Thanks a lot, I am {i} satisfied with {o}."),
                format!("Excellent help with {o}, the agent was {i} friendly."),
                format!("Not a single problem with {o}, great job."),
                format!("Love it! {} worked perfectly.", cap(o)),
            ]
        };
        type Templates = fn(&str, &str) -> Vec<String>;
        let families: [(&str, Templates); 3] = [
            ("negative", negative),
            ("neutral", neutral),
            ("positive", positive),
        ];
        for (want, templates) in families {
            for o in objects {
                for i in intensifiers {
                    for text in templates(o, i) {
                        let score = sentiment_score(&text);
                        assert_eq!(label_of(score), want, "{text} scored {score}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_string_type_and_nulls() {
        let texts: [ArrayRef; 3] = [
            Arc::new(StringArray::from(vec![Some("great"), None, Some("")])),
            Arc::new(LargeStringArray::from(vec![Some("great"), None, Some("")])),
            Arc::new(StringViewArray::from(vec![Some("great"), None, Some("")])),
        ];
        for t in texts {
            let scores: Float64Array = map_texts(&t, |t| Ok(t.map(sentiment_score))).unwrap();
            let got: Vec<Option<f64>> = scores.iter().collect();
            assert_eq!(got, [Some((0.75_f64).tanh()), None, Some(0.0)]);
        }
    }
}
