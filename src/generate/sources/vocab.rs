//! What the raw sources spell differently from the customers table:
//! nicknames, native spellings of names the lake writes in ASCII, streets
//! and postal codes per city, and the junk values forms collect.

use crate::generate::vocabulary::CITIES;

/// First names and the short forms people give instead.
pub(super) const NICKNAMES: &[(&str, &str)] = &[
    ("Katharina", "Kathi"),
    ("Johanna", "Hanna"),
    ("Charlotte", "Lotte"),
    ("Isabel", "Isa"),
    ("Karolina", "Karo"),
    ("Amelie", "Amy"),
    ("Julia", "Jule"),
    ("Helena", "Lena"),
    ("Olivia", "Liv"),
    ("Sofia", "Sofie"),
    ("Lukas", "Luke"),
    ("Elias", "Eli"),
    ("Samuel", "Sam"),
    ("Matteo", "Matt"),
    ("Niklas", "Nick"),
    ("Florian", "Flo"),
    ("Tobias", "Tobi"),
    ("Markus", "Mark"),
    ("Stefan", "Steff"),
    ("Thomas", "Tom"),
    ("Pieter", "Piet"),
    ("Nathan", "Nate"),
    ("Oliver", "Olli"),
    ("Jakub", "Kuba"),
    ("Ondrej", "Ondra"),
    ("Anton", "Toni"),
    ("Victor", "Vic"),
    ("Moritz", "Mo"),
    ("Erik", "Rik"),
    ("Alexander", "Alex"),
];

/// Names the lake writes in ASCII and their native spelling (Jürgen is
/// Juergen in an ASCII system): umlauts as `ue`, accents dropped.
pub(super) const NATIVE: &[(&str, &str)] = &[
    ("Mueller", "Müller"),
    ("Krueger", "Krüger"),
    ("Cerny", "Černý"),
    ("Dvorak", "Dvořák"),
    ("Prochazka", "Procházka"),
    ("Novak", "Novák"),
    ("Sahin", "Şahin"),
    ("Yilmaz", "Yılmaz"),
    ("Chloe", "Chloé"),
    ("Ines", "Inès"),
    ("Eliska", "Eliška"),
    ("Zoe", "Zoë"),
    ("Amelie", "Amélie"),
    ("Lea", "Léa"),
    ("Elise", "Élise"),
    ("Ondrej", "Ondřej"),
    ("Tomas", "Tomáš"),
];

/// Cities as their inhabitants write them.
pub(super) const CITY_LOCAL: &[(&str, &str)] = &[
    ("Munich", "München"),
    ("Cologne", "Köln"),
    ("Duesseldorf", "Düsseldorf"),
    ("Prague", "Praha"),
    ("Vienna", "Wien"),
    ("Brussels", "Bruxelles"),
    ("Antwerp", "Antwerpen"),
    ("Ghent", "Gent"),
    ("Copenhagen", "København"),
];

pub(super) fn lookup(table: &[(&'static str, &'static str)], name: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// Values forms collect when a field is required but the person would
/// rather not say; identical across customers, so they must be blocked.
pub(super) const JUNK_EMAILS: &[&str] = &["", "null", "test@example.com", "n/a"];
pub(super) const JUNK_PHONES: &[&str] = &["", "null", "0000000000", "n/a"];

/// How addresses are written in a country: street names, whether the
/// number comes first, and the national trunk prefix of phone numbers.
pub(super) struct Country {
    pub code: &'static str,
    pub streets: &'static [&'static str],
    pub number_first: bool,
    pub trunk: &'static str,
}

pub(super) const COUNTRIES: &[Country] = &[
    Country {
        code: "DE",
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Gartenstraße",
            "Schulstraße",
            "Lindenstraße",
            "Bergstraße",
            "Kirchstraße",
            "Goethestraße",
            "Am Markt",
            "Waldweg",
        ],
        number_first: false,
        trunk: "0",
    },
    Country {
        code: "AT",
        streets: &[
            "Hauptstraße",
            "Bahnhofstraße",
            "Mariahilfer Straße",
            "Schulgasse",
            "Kirchengasse",
            "Am Platz",
        ],
        number_first: false,
        trunk: "0",
    },
    Country {
        code: "NL",
        streets: &[
            "Kerkstraat",
            "Dorpsstraat",
            "Stationsweg",
            "Molenweg",
            "Schoolstraat",
            "Julianastraat",
            "Prinsengracht",
        ],
        number_first: false,
        trunk: "0",
    },
    Country {
        code: "BE",
        streets: &[
            "Kerkstraat",
            "Stationsstraat",
            "Rue de la Station",
            "Dorpsstraat",
            "Avenue Louise",
        ],
        number_first: false,
        trunk: "0",
    },
    Country {
        code: "FR",
        streets: &[
            "Rue de la Paix",
            "Rue Victor Hugo",
            "Avenue Jean Jaurès",
            "Rue de la République",
            "Boulevard Voltaire",
        ],
        number_first: true,
        trunk: "0",
    },
    Country {
        code: "DK",
        streets: &["Nørregade", "Vestergade", "Østergade", "Strandvejen"],
        number_first: false,
        trunk: "",
    },
    Country {
        code: "CZ",
        streets: &["Národní", "Vinohradská", "Husova", "Palackého"],
        number_first: false,
        trunk: "",
    },
];

pub(super) fn country(code: &str) -> &'static Country {
    COUNTRIES
        .iter()
        .find(|c| c.code == code)
        .unwrap_or(&COUNTRIES[0])
}

/// Abbreviations a clerk types for the long street words.
pub(super) const STREET_SHORT: &[(&str, &str)] = &[
    ("straße", "str."),
    ("Straße", "Str."),
    ("straat", "str."),
    ("gasse", "g."),
    ("Rue ", "R. "),
    ("Avenue ", "Av. "),
    ("Boulevard ", "Bd "),
    ("ø", "oe"),
    ("Ø", "Oe"),
];

/// Postal code ranges per city of [`CITIES`] (same order) and the format:
/// `D` digits, `NL` four digits and two letters, `CZ` `ddd dd`.
pub(super) const POSTAL: &[(&str, u32, u32)] = &[
    ("Berlin", 10115, 14199),
    ("Hamburg", 20095, 22769),
    ("Munich", 80331, 81929),
    ("Cologne", 50667, 51149),
    ("Frankfurt", 60306, 60599),
    ("Stuttgart", 70173, 70629),
    ("Duesseldorf", 40210, 40629),
    ("Leipzig", 4103, 4357),
    ("Amsterdam", 1011, 1109),
    ("Rotterdam", 3011, 3089),
    ("Utrecht", 3511, 3585),
    ("Eindhoven", 5611, 5658),
    ("Brussels", 1000, 1210),
    ("Antwerp", 2000, 2660),
    ("Ghent", 9000, 9052),
    ("Paris", 75001, 75020),
    ("Lyon", 69001, 69009),
    ("Lille", 59000, 59800),
    ("Vienna", 1010, 1230),
    ("Graz", 8010, 8063),
    ("Copenhagen", 1050, 2450),
    ("Prague", 11000, 19900),
];

/// Writes a postal code `n` of `city` in its country's format.
pub(super) fn write_postal(out: &mut String, city: usize, n: u32, letters: (u8, u8)) {
    use std::fmt::Write as _;
    let _ = match CITIES[city].country {
        "DE" | "FR" => write!(out, "{n:05}"),
        "NL" => write!(
            out,
            "{n:04} {}{}",
            (b'A' + letters.0 % 26) as char,
            (b'A' + letters.1 % 26) as char
        ),
        "CZ" => write!(out, "{:03} {:02}", n / 100, n % 100),
        _ => write!(out, "{n:04}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_city_has_a_postal_range_and_a_country() {
        assert_eq!(POSTAL.len(), CITIES.len());
        for (c, p) in CITIES.iter().zip(POSTAL) {
            assert_eq!(c.name, p.0);
            assert!(p.1 <= p.2, "{}", p.0);
            assert!(
                COUNTRIES.iter().any(|k| k.code == c.country),
                "{}",
                c.country
            );
        }
    }

    #[test]
    fn variants_differ_from_the_names() {
        for (a, b) in NICKNAMES.iter().chain(NATIVE).chain(CITY_LOCAL) {
            assert_ne!(a, b);
        }
        assert_eq!(lookup(NATIVE, "Mueller"), Some("Müller"));
        assert_eq!(lookup(NICKNAMES, "Anna"), None);
    }

    #[test]
    fn postal_codes_follow_the_country_format() {
        let mut s = String::new();
        write_postal(&mut s, 8, 1017, (0, 1));
        assert_eq!(s, "1017 AB");
        s.clear();
        write_postal(&mut s, 7, 4103, (0, 0));
        assert_eq!(s, "04103");
        s.clear();
        write_postal(&mut s, 21, 11000, (0, 0));
        assert_eq!(s, "110 00");
    }
}
