//! The generator's fixed vocabulary: categories and subcategories with
//! their brands, price levels and search queries, cities, store name
//! suffixes, first and last names and e-mail domains. Nothing here depends
//! on the seed; the seeded assortment built from it is in `assortment.rs`.

pub(crate) struct CategorySpec {
    pub name: &'static str,
    pub code: &'static str,
    pub brands: &'static [&'static str],
}

pub(crate) struct SubcatSpec {
    pub name: &'static str,
    pub category: usize,
    pub code: &'static str,
    /// Median shelf price in EUR; prices are log-normal around it.
    pub median: f64,
    pub spread: f64,
    pub skus: u32,
    /// Largest quantity of one SKU on one order line.
    pub max_qty: u32,
    pub nouns: &'static [&'static str],
    pub variants: &'static [&'static str],
    pub queries: &'static [&'static str],
}

pub(crate) const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        name: "beverages",
        code: "BEV",
        brands: &[
            "Nordhopf",
            "Brauhaus Linde",
            "Kleinbrau",
            "Hopfenwerk",
            "Vallee Verte",
            "Casa Roble",
            "Fizzwell",
            "Old Mill",
            "Zeeland",
            "Bergquell",
        ],
    },
    CategorySpec {
        name: "electronics",
        code: "ELE",
        brands: &[
            "Voltra",
            "Nexon",
            "Auralis",
            "Pixelcraft",
            "Quantix",
            "Lumen",
            "Kairo",
        ],
    },
    CategorySpec {
        name: "baby",
        code: "BAB",
        brands: &["Kiddo", "Little Oak", "Bambini", "Snugglepod", "Tinysteps"],
    },
    CategorySpec {
        name: "home",
        code: "HOM",
        brands: &["Hemma", "Casaluce", "Oakline", "Nordic Nest", "Terra"],
    },
    CategorySpec {
        name: "travel",
        code: "TRV",
        brands: &["Wayfarer", "Atlasgo", "Trekka", "Nomada"],
    },
    CategorySpec {
        name: "fashion",
        code: "FAS",
        brands: &[
            "Maison Vert",
            "Urban Fox",
            "Linnea",
            "Corvo",
            "Blue Harbor",
            "Solene",
        ],
    },
    CategorySpec {
        name: "grocery",
        code: "GRO",
        brands: &[
            "Good Harvest",
            "Daily Pantry",
            "Green Valley",
            "Mama Rosa",
            "Crisp & Co",
        ],
    },
];

/// Index of the fashion category (returns are likelier with fashion lines).
pub(crate) const FASHION: usize = 5;

macro_rules! subcat {
    ($name:literal, $cat:literal, $code:literal, $median:literal, $spread:literal, $skus:literal, $qty:literal,
     [$($noun:literal),*], [$($var:literal),*], [$($q:literal),*]) => {
        SubcatSpec {
            name: $name,
            category: $cat,
            code: $code,
            median: $median,
            spread: $spread,
            skus: $skus,
            max_qty: $qty,
            nouns: &[$($noun),*],
            variants: &[$($var),*],
            queries: &[$($q),*],
        }
    };
}

pub(crate) const SUBCATS: &[SubcatSpec] = &[
    subcat!(
        "lager",
        0,
        "LAG",
        7.5,
        0.25,
        40,
        6,
        ["Pilsner", "Lager", "Helles", "Export"],
        ["6x0.33l", "6x0.5l", "24x0.33l crate", "4x0.5l"],
        ["lager", "pilsner 6 pack", "beer crate", "helles"]
    ),
    subcat!(
        "craft_beer",
        0,
        "CRA",
        12.0,
        0.3,
        70,
        6,
        [
            "IPA",
            "Double IPA",
            "Pale Ale",
            "Stout",
            "Porter",
            "Saison",
            "Sour",
            "NEIPA",
            "Barleywine"
        ],
        [
            "4x0.33l",
            "0.44l can",
            "0.75l bottle",
            "mixed case 12x0.33l"
        ],
        [
            "ipa",
            "craft beer",
            "hazy ipa",
            "imperial stout",
            "sour beer"
        ]
    ),
    subcat!(
        "regional_beer",
        0,
        "REG",
        9.0,
        0.25,
        45,
        6,
        [
            "Kellerbier",
            "Zwickel",
            "Dunkel",
            "Bock",
            "Weissbier",
            "Koelsch",
            "Altbier"
        ],
        ["6x0.5l", "20x0.5l crate", "0.5l bottle"],
        ["kellerbier", "regional beer", "weissbier", "bock beer"]
    ),
    subcat!(
        "cider",
        0,
        "CID",
        6.0,
        0.3,
        20,
        6,
        ["Dry Cider", "Apple Cider", "Pear Cider", "Rose Cider"],
        ["4x0.33l", "0.75l bottle"],
        ["cider", "dry cider"]
    ),
    subcat!(
        "wine",
        0,
        "WIN",
        13.0,
        0.5,
        60,
        6,
        [
            "Riesling",
            "Pinot Noir",
            "Rioja",
            "Chianti",
            "Sauvignon Blanc",
            "Cremant",
            "Primitivo"
        ],
        ["0.75l", "6x0.75l case", "magnum 1.5l"],
        ["red wine", "riesling", "sparkling wine", "wine gift"]
    ),
    subcat!(
        "soft_drinks",
        0,
        "SOF",
        3.0,
        0.35,
        35,
        12,
        [
            "Cola",
            "Lemonade",
            "Iced Tea",
            "Mate",
            "Sparkling Water",
            "Ginger Ale"
        ],
        ["1.5l", "6x0.33l", "0.5l", "12x1l"],
        ["cola", "mate", "sparkling water"]
    ),
    subcat!(
        "smartphones",
        1,
        "PHO",
        520.0,
        0.45,
        30,
        1,
        ["Phone", "Phone Pro", "Phone Lite", "Phone Max"],
        ["128GB", "256GB", "512GB"],
        ["smartphone", "phone 256gb", "android phone"]
    ),
    subcat!(
        "laptops",
        1,
        "LAP",
        950.0,
        0.4,
        30,
        1,
        ["Notebook", "Ultrabook", "Laptop Pro", "Chromebook"],
        ["13 inch", "14 inch", "15 inch", "16 inch"],
        ["laptop", "ultrabook", "laptop 16gb"]
    ),
    subcat!(
        "audio",
        1,
        "AUD",
        110.0,
        0.7,
        40,
        2,
        ["Earbuds", "Headphones", "Speaker", "Soundbar"],
        ["wireless", "noise cancelling", "portable", "studio"],
        ["wireless headphones", "earbuds", "bluetooth speaker"]
    ),
    subcat!(
        "gaming",
        1,
        "GAM",
        70.0,
        0.8,
        40,
        2,
        ["Controller", "Console", "Game", "Headset", "Keyboard"],
        ["standard", "elite", "bundle"],
        ["gaming headset", "console", "new games"]
    ),
    subcat!(
        "smart_home",
        1,
        "SMA",
        55.0,
        0.6,
        35,
        3,
        [
            "Smart Plug",
            "Smart Bulb",
            "Thermostat",
            "Camera",
            "Doorbell"
        ],
        ["single", "3-pack", "starter kit"],
        ["smart plug", "security camera", "smart bulb"]
    ),
    subcat!(
        "diapers",
        2,
        "DIA",
        22.0,
        0.25,
        25,
        4,
        ["Diapers", "Pants", "Wipes"],
        ["size 1", "size 2", "size 3", "size 4", "size 5"],
        ["diapers size 3", "baby wipes", "nappies"]
    ),
    subcat!(
        "baby_food",
        2,
        "FOO",
        4.5,
        0.3,
        35,
        12,
        ["Puree", "Porridge", "Formula", "Snack Bites"],
        ["apple banana", "carrot", "oat", "stage 1", "stage 2"],
        ["baby food", "formula", "porridge"]
    ),
    subcat!(
        "strollers",
        2,
        "STR",
        320.0,
        0.4,
        15,
        1,
        ["Stroller", "Pram", "Buggy", "Car Seat"],
        ["compact", "travel system", "all terrain"],
        ["stroller", "car seat", "pram"]
    ),
    subcat!(
        "toys",
        2,
        "TOY",
        22.0,
        0.6,
        45,
        3,
        [
            "Plush Bear",
            "Stacking Cups",
            "Play Mat",
            "Rattle",
            "Wooden Blocks"
        ],
        ["small", "large", "set"],
        ["baby toys", "play mat", "wooden toys"]
    ),
    subcat!(
        "furniture",
        3,
        "FUR",
        230.0,
        0.6,
        35,
        1,
        ["Sofa", "Desk", "Shelf", "Chair", "Bed Frame", "Dresser"],
        ["oak", "white", "grey", "walnut"],
        ["sofa", "desk", "bookshelf"]
    ),
    subcat!(
        "kitchen",
        3,
        "KIT",
        32.0,
        0.7,
        45,
        3,
        [
            "Pan",
            "Knife Set",
            "Mixer",
            "Kettle",
            "Coffee Grinder",
            "Glassware Set"
        ],
        ["steel", "ceramic", "pro", "6-piece"],
        ["frying pan", "knife set", "beer glasses"]
    ),
    subcat!(
        "bedding",
        3,
        "BED",
        55.0,
        0.5,
        30,
        2,
        ["Duvet", "Pillow", "Sheet Set", "Blanket"],
        ["single", "double", "king", "linen"],
        ["duvet", "pillows", "linen sheets"]
    ),
    subcat!(
        "decor",
        3,
        "DEC",
        28.0,
        0.6,
        40,
        3,
        ["Vase", "Candle", "Frame", "Rug", "Lamp"],
        ["small", "large", "set of 2"],
        ["lamp", "rug", "candles"]
    ),
    subcat!(
        "luggage",
        4,
        "LUG",
        140.0,
        0.5,
        25,
        1,
        ["Suitcase", "Carry-on", "Duffel", "Backpack"],
        ["cabin", "medium", "large"],
        ["suitcase", "carry on", "travel backpack"]
    ),
    subcat!(
        "travel_accessories",
        4,
        "ACC",
        18.0,
        0.5,
        30,
        3,
        ["Adapter", "Neck Pillow", "Packing Cubes", "Toiletry Bag"],
        ["universal", "set", "compact"],
        ["travel adapter", "packing cubes"]
    ),
    subcat!(
        "outdoor",
        4,
        "OUT",
        65.0,
        0.7,
        30,
        2,
        ["Tent", "Sleeping Bag", "Hiking Boots", "Rain Jacket"],
        ["1 person", "2 person", "lightweight"],
        ["tent", "hiking boots", "rain jacket"]
    ),
    subcat!(
        "womenswear",
        5,
        "WOM",
        45.0,
        0.55,
        50,
        3,
        ["Dress", "Blouse", "Jeans", "Coat", "Knit Sweater"],
        ["XS", "S", "M", "L", "XL"],
        ["summer dress", "jeans women", "wool coat"]
    ),
    subcat!(
        "menswear",
        5,
        "MEN",
        42.0,
        0.55,
        45,
        3,
        ["Shirt", "Chinos", "Jacket", "Hoodie", "Jeans"],
        ["S", "M", "L", "XL"],
        ["mens shirt", "hoodie", "jacket men"]
    ),
    subcat!(
        "shoes",
        5,
        "SHO",
        75.0,
        0.45,
        35,
        2,
        ["Sneakers", "Boots", "Loafers", "Sandals", "Running Shoes"],
        ["38", "40", "42", "44"],
        ["sneakers", "running shoes", "boots"]
    ),
    subcat!(
        "bags",
        5,
        "BAG",
        38.0,
        0.6,
        25,
        2,
        ["Tote", "Crossbody Bag", "Belt", "Wallet", "Scarf"],
        ["leather", "canvas", "recycled"],
        ["leather bag", "wallet", "scarf"]
    ),
    subcat!(
        "fresh",
        6,
        "FRE",
        4.2,
        0.45,
        40,
        6,
        ["Apples", "Cheese", "Salmon", "Bread", "Berries", "Yogurt"],
        ["500g", "1kg", "organic", "family pack"],
        ["organic apples", "cheese", "fresh bread"]
    ),
    subcat!(
        "pantry",
        6,
        "PAN",
        3.6,
        0.45,
        45,
        8,
        [
            "Pasta",
            "Olive Oil",
            "Coffee Beans",
            "Rice",
            "Tomato Sauce",
            "Cereal"
        ],
        ["500g", "1kg", "1l", "organic"],
        ["coffee beans", "olive oil", "pasta"]
    ),
    subcat!(
        "snacks",
        6,
        "SNA",
        2.8,
        0.4,
        40,
        8,
        ["Crisps", "Chocolate", "Nuts", "Pretzels", "Protein Bar"],
        ["150g", "200g", "multipack"],
        ["crisps", "chocolate", "pretzels"]
    ),
    subcat!(
        "household",
        6,
        "HOU",
        7.5,
        0.5,
        30,
        4,
        ["Detergent", "Dish Soap", "Paper Towels", "Sponges"],
        ["eco", "family size", "refill"],
        ["detergent", "paper towels"]
    ),
];

/// Index of a category or subcategory by name, for the persona tables.
pub(crate) fn category_index(name: &str) -> Option<usize> {
    CATEGORIES.iter().position(|c| c.name == name)
}

pub(crate) fn subcat_index(name: &str) -> Option<usize> {
    SUBCATS.iter().position(|s| s.name == name)
}

pub(crate) struct CitySpec {
    pub name: &'static str,
    pub region: &'static str,
    pub country: &'static str,
    pub phone_cc: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// Relative share of customers.
    pub weight: f64,
}

macro_rules! city {
    ($n:literal, $r:literal, $c:literal, $cc:literal, $lat:literal, $lon:literal, $w:literal) => {
        CitySpec {
            name: $n,
            region: $r,
            country: $c,
            phone_cc: $cc,
            lat: $lat,
            lon: $lon,
            weight: $w,
        }
    };
}

pub(crate) const CITIES: &[CitySpec] = &[
    city!("Berlin", "Berlin", "DE", "49", 52.520, 13.405, 12.0),
    city!("Hamburg", "Hamburg", "DE", "49", 53.551, 9.994, 7.0),
    city!("Munich", "Bavaria", "DE", "49", 48.137, 11.575, 7.0),
    city!(
        "Cologne",
        "North Rhine-Westphalia",
        "DE",
        "49",
        50.938,
        6.960,
        5.0
    ),
    city!("Frankfurt", "Hesse", "DE", "49", 50.110, 8.682, 4.0),
    city!(
        "Stuttgart",
        "Baden-Wuerttemberg",
        "DE",
        "49",
        48.776,
        9.183,
        3.5
    ),
    city!(
        "Duesseldorf",
        "North Rhine-Westphalia",
        "DE",
        "49",
        51.227,
        6.774,
        3.0
    ),
    city!("Leipzig", "Saxony", "DE", "49", 51.340, 12.375, 3.0),
    city!("Amsterdam", "North Holland", "NL", "31", 52.370, 4.895, 6.0),
    city!("Rotterdam", "South Holland", "NL", "31", 51.924, 4.478, 4.0),
    city!("Utrecht", "Utrecht", "NL", "31", 52.090, 5.121, 2.5),
    city!("Eindhoven", "North Brabant", "NL", "31", 51.441, 5.470, 2.0),
    city!(
        "Brussels",
        "Brussels-Capital",
        "BE",
        "32",
        50.850,
        4.352,
        4.0
    ),
    city!("Antwerp", "Flanders", "BE", "32", 51.219, 4.402, 3.0),
    city!("Ghent", "Flanders", "BE", "32", 51.054, 3.717, 2.0),
    city!("Paris", "Ile-de-France", "FR", "33", 48.857, 2.352, 10.0),
    city!(
        "Lyon",
        "Auvergne-Rhone-Alpes",
        "FR",
        "33",
        45.764,
        4.836,
        4.0
    ),
    city!("Lille", "Hauts-de-France", "FR", "33", 50.629, 3.057, 2.5),
    city!("Vienna", "Vienna", "AT", "43", 48.208, 16.373, 5.0),
    city!("Graz", "Styria", "AT", "43", 47.070, 15.439, 1.5),
    city!(
        "Copenhagen",
        "Capital Region",
        "DK",
        "45",
        55.676,
        12.568,
        3.5
    ),
    city!("Prague", "Prague", "CZ", "420", 50.075, 14.438, 4.0),
];

pub(crate) const STORE_SUFFIXES: &[&str] = &[
    "Central", "Station", "North", "South", "East", "West", "Mall",
];

pub(crate) const FEMALE_NAMES: &[&str] = &[
    "Anna",
    "Emma",
    "Mia",
    "Sofia",
    "Lena",
    "Hanna",
    "Lea",
    "Marie",
    "Laura",
    "Julia",
    "Sarah",
    "Lisa",
    "Lotte",
    "Eva",
    "Sanne",
    "Fleur",
    "Noor",
    "Julie",
    "Camille",
    "Chloe",
    "Ines",
    "Manon",
    "Louise",
    "Elise",
    "Clara",
    "Ida",
    "Freja",
    "Karolina",
    "Tereza",
    "Eliska",
    "Katharina",
    "Greta",
    "Nina",
    "Paula",
    "Amelie",
    "Charlotte",
    "Zoe",
    "Lina",
    "Yara",
    "Amira",
    "Leonie",
    "Johanna",
    "Marta",
    "Alice",
    "Olivia",
    "Isabel",
    "Helena",
    "Rosa",
    "Vera",
    "Nora",
    "Ella",
    "Maja",
    "Lucie",
    "Astrid",
    "Femke",
    "Mila",
    "Luna",
    "Aylin",
    "Selin",
    "Fatima",
];

pub(crate) const MALE_NAMES: &[&str] = &[
    "Lukas", "Leon", "Finn", "Jonas", "Paul", "Felix", "Noah", "Elias", "Ben", "Max", "Daan",
    "Sem", "Lars", "Bram", "Thomas", "Pieter", "Jan", "Louis", "Hugo", "Lucas", "Nathan", "Arthur",
    "Jules", "Mathis", "Emil", "Oskar", "Anton", "Jakub", "Tomas", "Ondrej", "David", "Matteo",
    "Luca", "Samuel", "Moritz", "Niklas", "Tim", "Julian", "Florian", "Simon", "Stefan", "Markus",
    "Tobias", "Kevin", "Mehmet", "Ali", "Yusuf", "Omar", "Karim", "Sven", "Rasmus", "Magnus",
    "Anders", "Victor", "Adam", "Oliver", "Henrik", "Milan", "Ruben", "Erik",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krueger",
    "Hartmann",
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Garcia",
    "Rossi",
    "Russo",
    "Ferrari",
    "Novak",
    "Svoboda",
    "Dvorak",
    "Cerny",
    "Prochazka",
    "Gruber",
    "Huber",
    "Bauer",
    "Pichler",
    "Steiner",
    "Moser",
    "Hansen",
    "Nielsen",
    "Jensen",
    "Pedersen",
    "Andersen",
    "Larsen",
    "Kowalski",
    "Nowak",
    "Yilmaz",
    "Kaya",
    "Demir",
    "Sahin",
    "Smith",
    "Brown",
    "Taylor",
    "Wilson",
    "Murphy",
    "Kelly",
    "O'Brien",
    "Lambert",
    "Fontaine",
    "Vermeulen",
    "Hendriks",
    "Dekker",
    "Brouwer",
    "Vogel",
    "Fuchs",
    "Keller",
    "Berger",
    "Lang",
    "Frank",
    "Roth",
    "Beck",
];

/// Reserved example domains only (RFC 2606/6761), so no address is real.
pub(crate) const EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example",
    "post.test",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcategory_names_are_unique() {
        let mut names: Vec<&str> = SUBCATS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SUBCATS.len());
    }

    #[test]
    fn fashion_index_points_at_fashion() {
        assert_eq!(CATEGORIES[FASHION].name, "fashion");
    }
}
