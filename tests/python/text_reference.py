#!/usr/bin/env python3
"""Independent references for microseg's text functions.

Prints tab-separated lines `function<TAB>a<TAB>b<TAB>expected` (`\\N` for
NULL; b is empty for one-argument functions) over a few thousand seeded
inputs:

- jaro_winkler, damerau_levenshtein: jellyfish
- double_metaphone(_alt): doublemetaphone (Philips' C++ code) on the value
  with its accents folded by Unicode decomposition (NFKD, marks dropped)
- normalize_phone: phonenumbers (libphonenumber's Python port): parse, then
  is_possible_number_with_reason == IS_POSSIBLE, then E164
- normalize_name: NFKD decomposition, marks dropped, plus the documented
  table for letters Unicode does not decompose
- customer_match_hash: hashlib.sha256 of the documented normalization

Usage: text_reference.py
"""

import hashlib
import random
import sys
import unicodedata

try:
    import doublemetaphone
    import jellyfish
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType, ValidationResult
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; tests/run.sh installs jellyfish, doublemetaphone, phonenumbers")

rng = random.Random(20261205)
NULL = "\\N"

NAMES = """Lukas Leon Finn Jonas Paul Felix Noah Elias Ben Max Daan Sem Lars Bram Thomas Pieter Jan
Louis Hugo Lucas Nathan Arthur Jules Mathis Emil Oskar Anton Jakub Tomas Ondrej David Matteo Luca
Samuel Moritz Niklas Tim Julian Florian Simon Stefan Markus Tobias Kevin Mehmet Ali Yusuf Omar
Karim Sven Rasmus Magnus Anders Victor Adam Oliver Henrik Milan Ruben Erik Emma Mia Hannah Sophie
Lea Lina Yara Amira Leonie Johanna Marta Alice Olivia Isabel Helena Rosa Vera Nora Ella Maja Lucie
Astrid Femke Mila Luna Aylin Selin Fatima Mueller Müller Schmidt Schneider Fischer Weber Meyer
Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann Schwarz Zimmermann Braun Krueger
Krüger Hartmann Jansen Bakker Visser Smit Meijer Mulder Peeters Janssens Maes Jacobs Mertens
Willems Claes Goossens Martin Bernard Dubois Robert Richard Petit Durand Leroy Moreau Laurent
Michel Lefebvre Garcia Rossi Russo Ferrari Novak Svoboda Dvorak Dvořák Cerny Černý Prochazka
Procházka Gruber Huber Bauer Pichler Steiner Moser Hansen Nielsen Jensen Pedersen Andersen Larsen
Kowalski Nowak Yilmaz Yılmaz Kaya Demir Sahin Şahin Smith Brown Taylor Wilson Murphy Kelly O'Brien
Lambert Fontaine Vermeulen Hendriks Dekker Brouwer Vogel Fuchs Keller Berger Lang Frank Roth Beck
José Jose Jürgen Juergen François Zoë Søren Åsa Æsa Œdipe Łukasz Straße Ðorđe Þór Ćurić
Caesar Chianti Michael Chorus Character Orchestra Architect Mchugh McClellan Accident Bacchus
Bellocchio Focaccia Czerny Edge Edgar Ghislane Hugh Laugh Tough Cagney Tagliaro Danger Ranger
Biaggi Rogier Hochmeier Island Sugar Schenker Schooner School Schermerhorn Resnais Artois
Thames Wasserman Vasserman Arnow Arnoff Filipowicz Breaux Zhao Zola Jankelowicz Yankelovich
Cabrillo Gallegos Dumb Thumb Campbell Raspberry Xavier Gnome Knight Pneumatic Wright Psychology
Hadj Jacinto Bajador Smyth Schmitt Snider Schneider Van Gogh Von Trapp San Jose Tichner
Womo Wlodarczyk Ghiradelli Mac Caffrey Mac Gregor Alle Cabrillo Gallegos Jose Augh Agha""".split()

VOWELS = "aeiouyäöüéèáàíóúåøæ"


def noisy(word):
    """A typo'd copy: a swap, a drop, an insert or a substitution."""
    chars = list(word)
    op = rng.randrange(5)
    i = rng.randrange(len(chars)) if chars else 0
    if op == 0 and len(chars) > 1:
        j = min(i + 1, len(chars) - 1)
        chars[i], chars[j] = chars[j], chars[i]
    elif op == 1 and chars:
        del chars[i]
    elif op == 2:
        chars.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyzäöüé"))
    elif op == 3 and chars:
        chars[i] = rng.choice(VOWELS)
    else:
        chars = chars[::-1]
    return "".join(chars)


def emit(function, a, b, expected):
    for text in (a, b, expected):
        assert "\t" not in text and "\n" not in text, (function, a, b)
    print(f"{function}\t{a}\t{b}\t{expected}")


# Similarity: pairs of names, their typos, case changes and unrelated names.
for _ in range(1500):
    a = rng.choice(NAMES)
    b = rng.choice([noisy(a), noisy(noisy(a)), a.upper(), rng.choice(NAMES), a, ""])
    if rng.random() < 0.05:
        a = ""
    jw = 1.0 if a == b else jellyfish.jaro_winkler_similarity(a, b)
    emit("jaro_winkler", a, b, repr(jw))
    emit("damerau_levenshtein", a, b, str(jellyfish.damerau_levenshtein_distance(a, b)))

# Folding shared by names and metaphone: Unicode decomposition, plus the
# letters it leaves whole.
WHOLE = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "ı": "i",
         "ł": "l", "ŀ": "l", "ŧ": "t", "þ": "th", "ŋ": "n", "ĸ": "k", "ŉ": "n"}
GERMAN = {"ä": "ae", "ö": "oe", "ü": "ue"}


def fold(text, german):
    out = []
    for c in text.lower():
        if german and c in GERMAN:
            out.append(GERMAN[c])
        elif c in WHOLE:
            out.append(WHOLE[c])
        else:
            out.append("".join(d for d in unicodedata.normalize("NFKD", c)
                               if not unicodedata.combining(d)))
    return "".join(out)


for word in NAMES + [noisy(w) for w in NAMES] + [a + " " + b for a, b in zip(NAMES, NAMES[7:])]:
    primary, alternate = doublemetaphone.doublemetaphone(fold(word, False))
    emit("double_metaphone", word, "", primary[:4])
    emit("double_metaphone_alt", word, "", alternate[:4])

APOSTROPHES = "'\u2019\u2018\u02bc`\u00b4"


def match_name(text):
    folded = "".join(c for c in fold(text, True) if c not in APOSTROPHES)
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    return " ".join(words) if words else None


for _ in range(600):
    parts = [rng.choice(NAMES) for _ in range(rng.randint(1, 3))]
    seps = [rng.choice([" ", "  ", "-", " - ", ". ", "\u00a0"]) for _ in parts]
    text = "".join(p + s for p, s in zip(parts, seps))
    text = rng.choice([text, text.upper(), " " + text + " ", text.title()])
    expected = match_name(text)
    emit("normalize_name", text, "", NULL if expected is None else expected)
emit("normalize_name", " - ", "", NULL)

# Phones: example numbers of every covered region and type, written the ways
# people write them, read with a default region that is right, wrong or
# missing; plus random digit strings and broken inputs.
COVERED = "DE NL BE FR AT CZ CH IT ES PT IE GB DK SE PL US CA".split()
OTHER = ["JP", "RU", "BR", "AU", "XX"]
TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
         PhoneNumberType.VOIP, PhoneNumberType.PREMIUM_RATE]


def e164(text, region):
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    if phonenumbers.region_code_for_country_code(number.country_code) not in COVERED:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def spellings(number, region):
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    e = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    nsn = phonenumbers.national_significant_number(number)
    idd = "011" if region in ("US", "CA") else "00"
    yield national
    yield international
    yield e
    yield idd + " " + international[1:]
    yield national.replace(" ", "/", 1).replace("-", ".")
    yield "+" + str(number.country_code) + " (0)" + nsn
    yield nsn
    yield e[:-2]          # too short
    yield e + "99"        # too long
    yield national + "1"


samples = []
for region in COVERED + ["JP", "RU", "BR", "AU"]:
    for kind in TYPES:
        number = phonenumbers.example_number_for_type(region, kind)
        if number is not None:
            samples.extend((text, region) for text in spellings(number, region))
for text, home in samples:
    for region in (home, rng.choice(COVERED), rng.choice(OTHER)):
        if region in COVERED or text.startswith("+"):
            expected = e164(text, region if region != "XX" else None)
            if region not in COVERED and not text.startswith("+"):
                expected = None
        else:
            expected = None
        emit("normalize_phone", text, region, NULL if expected is None else expected)
for _ in range(400):
    region = rng.choice(COVERED)
    text = rng.choice(["0", "", "+", "00", "+1", "+4"]) + "".join(
        rng.choice("0123456789") for _ in range(rng.randint(0, 14)))
    text = rng.choice([text, " ".join([text[:3], text[3:]]), "(" + text[:2] + ")" + text[2:]])
    expected = e164(text, region) if text.strip() else None
    emit("normalize_phone", text, region, NULL if expected is None else expected)

# Customer Match: hashes of the documented normalization.
DOMAINS = ["gmail.com", "GMail.com", "googlemail.com", "example.com", "post.test", "mail.example"]
for _ in range(400):
    first, last = rng.choice(NAMES), rng.choice(NAMES)
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}_{first}.x"])
    if rng.random() < 0.3:
        local += "+" + rng.choice(["news", "shop", "A.B"])
    address = local + "@" + rng.choice(DOMAINS)
    address = rng.choice([address, " " + address.upper() + " ", address, local, "@" + address,
                          address + "@x", address.replace("@", " @")])
    lowered = address.strip().lower()
    parts = lowered.split("@")
    if len(parts) != 2 or not all(parts) or any(c.isspace() for c in lowered):
        expected = None
    else:
        user, domain = parts
        if domain in ("gmail.com", "googlemail.com"):
            user = user.replace(".", "")
        expected = f"{user}@{domain}" if user else None
    emit("customer_match_hash", "email", address,
         NULL if expected is None else hashlib.sha256(expected.encode()).hexdigest())
for word in NAMES:
    text = rng.choice([word, " " + word.upper() + " ", word + " Straße 5"])
    emit("customer_match_hash", rng.choice(["first_name", "last_name", "street"]), text,
         hashlib.sha256(text.strip().lower().encode()).hexdigest())
