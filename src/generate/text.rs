//! Support-ticket messages: short sentences whose sentiment is clear to a
//! human but exercises the usual traps of a lexicon scorer (negations such as
//! "not happy", positive sentences containing "not", intensifiers).

use std::fmt;

use super::rng::Rng64;

pub(crate) const NEGATIVE: u8 = 0;
pub(crate) const NEUTRAL: u8 = 1;
pub(crate) const POSITIVE: u8 = 2;

pub(crate) const TOPICS: [&str; 6] = [
    "delivery",
    "returns",
    "payment",
    "product_quality",
    "account",
    "app",
];
pub(crate) const DELIVERY: u8 = 0;
pub(crate) const RETURNS: u8 = 1;
pub(crate) const PRODUCT_QUALITY: u8 = 3;
pub(crate) const TOPIC_WEIGHTS: [f64; 6] = [0.3, 0.15, 0.15, 0.2, 0.1, 0.1];
pub(crate) const TICKET_CHANNELS: [&str; 4] = ["email", "chat", "phone", "app"];
pub(crate) const APP_CHANNEL: u8 = 3;
pub(crate) const TICKET_CHANNEL_WEIGHTS: [f64; 4] = [0.4, 0.35, 0.25, 0.0];

const OBJECTS: [&str; 6] = [
    "the delivery",
    "the return",
    "the payment",
    "the product",
    "my account",
    "the app",
];
const INTENSIFIERS: [&str; 4] = ["very", "really", "extremely", "so"];

/// A template piece: literal text, the topic's object (lower or capitalised),
/// or an intensifier (lower or capitalised).
#[derive(Clone, Copy)]
enum P {
    L(&'static str),
    Obj,
    ObjCap,
    Int,
    IntCap,
}
use P::*;

const NEGATIVE_TEMPLATES: &[&[P]] = &[
    &[L("I am "), Int, L(" disappointed with "), Obj, L(".")],
    &[
        L("Not happy at all with "),
        Obj,
        L(", this is the second time."),
    ],
    &[ObjCap, L(" was terrible and nobody answered my emails.")],
    &[
        IntCap,
        L(" frustrated: "),
        Obj,
        L(" is still not sorted out."),
    ],
    &[L("I am not satisfied with "), Obj, L(". Please fix this.")],
    &[
        L("Very bad experience with "),
        Obj,
        L(", I want my money back."),
    ],
    &[ObjCap, L(" is not working and I am "), Int, L(" annoyed.")],
    &[
        L("I am not happy with "),
        Obj,
        L(" and will not order again."),
    ],
];

const NEUTRAL_TEMPLATES: &[&[P]] = &[
    &[L("Could you tell me the status of "), Obj, L("?")],
    &[L("I have a question about "), Obj, L(".")],
    &[L("Please send me an update on "), Obj, L(" when you can.")],
    &[L("How do I change the details of "), Obj, L("?")],
    &[
        L("Just checking whether "),
        Obj,
        L(" is handled by email or by phone."),
    ],
];

const POSITIVE_TEMPLATES: &[&[P]] = &[
    &[L("I am "), Int, L(" happy with "), Obj, L(", thank you!")],
    &[ObjCap, L(" was great, "), Int, L(" quick and easy.")],
    &[
        L("Thanks a lot, I am "),
        Int,
        L(" satisfied with "),
        Obj,
        L("."),
    ],
    &[
        L("Excellent help with "),
        Obj,
        L(", the agent was "),
        Int,
        L(" friendly."),
    ],
    &[L("Not a single problem with "), Obj, L(", great job.")],
    &[L("Love it! "), ObjCap, L(" worked perfectly.")],
];

fn templates(sentiment: u8) -> &'static [&'static [P]] {
    match sentiment {
        NEGATIVE => NEGATIVE_TEMPLATES,
        NEUTRAL => NEUTRAL_TEMPLATES,
        _ => POSITIVE_TEMPLATES,
    }
}

/// A ticket message, kept as indices and rendered straight into the column
/// builder so no per-row `String` is allocated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TicketText {
    pub topic: u8,
    pub sentiment: u8,
    template: u8,
    intensifier: u8,
}

fn capitalise(s: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.write_char(c.to_ascii_uppercase())?;
    }
    out.write_str(chars.as_str())
}

impl TicketText {
    pub fn draw(rng: &mut Rng64, topic: u8, sentiment: u8) -> Self {
        TicketText {
            topic,
            sentiment,
            template: rng.index(templates(sentiment).len()) as u8,
            intensifier: rng.index(INTENSIFIERS.len()) as u8,
        }
    }

    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let obj = OBJECTS[self.topic as usize];
        let int = INTENSIFIERS[self.intensifier as usize];
        for piece in templates(self.sentiment)[self.template as usize] {
            match *piece {
                L(s) => out.write_str(s)?,
                Obj => out.write_str(obj)?,
                ObjCap => capitalise(obj, out)?,
                Int => out.write_str(int)?,
                IntCap => capitalise(int, out)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(topic: u8, sentiment: u8, template: usize, intensifier: u8) -> String {
        let t = TicketText {
            topic,
            sentiment,
            template: template as u8,
            intensifier,
        };
        let mut s = String::new();
        t.write_to(&mut s).unwrap();
        s
    }

    #[test]
    fn every_template_renders_a_sentence_about_its_topic() {
        for sentiment in [NEGATIVE, NEUTRAL, POSITIVE] {
            for template in 0..templates(sentiment).len() {
                for (topic, obj) in OBJECTS.iter().enumerate() {
                    let s = render(topic as u8, sentiment, template, 0);
                    assert!(s.chars().next().unwrap().is_uppercase(), "{s}");
                    assert!(s.ends_with(['.', '!', '?']), "{s}");
                    assert!(s.contains(obj) || s.contains(&obj[1..]), "{s}");
                    assert!(topic < TOPICS.len());
                }
            }
        }
    }

    #[test]
    fn negations_and_intensifiers_occur() {
        let all: Vec<String> = [NEGATIVE, POSITIVE]
            .into_iter()
            .flat_map(|s| (0..templates(s).len()).map(move |t| render(0, s, t, 1)))
            .collect();
        assert!(all.iter().any(|s| s.contains("not happy")));
        assert!(all.iter().any(|s| s.contains("really")));
        assert!(all.iter().any(|s| s.starts_with("Not a single problem")));
    }
}
