//! Values of the coded columns (event types, channels, devices, statuses,
//! demographics, consent purposes, promo codes) and the indices the
//! simulation stores in place of the strings.

pub(crate) const EVENT_TYPES: [&str; 12] = [
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
    "email_open",
    "email_click",
    "app_open",
    "wishlist_add",
    "address_change",
];
/// Indices into [`EVENT_TYPES`].
pub(super) mod ev {
    pub const PAGE_VIEW: u8 = 0;
    pub const PRODUCT_VIEW: u8 = 1;
    pub const SEARCH: u8 = 2;
    pub const ADD_TO_CART: u8 = 3;
    pub const REMOVE_FROM_CART: u8 = 4;
    pub const CHECKOUT_START: u8 = 5;
    pub const PURCHASE: u8 = 6;
    pub const EMAIL_OPEN: u8 = 7;
    pub const EMAIL_CLICK: u8 = 8;
    pub const APP_OPEN: u8 = 9;
    pub const WISHLIST_ADD: u8 = 10;
    pub const ADDRESS_CHANGE: u8 = 11;
}

pub(crate) const CHANNELS: [&str; 4] = ["web", "app", "store", "email"];
pub(super) const WEB: u8 = 0;
pub(super) const APP: u8 = 1;
pub(super) const STORE: u8 = 2;
pub(super) const EMAIL: u8 = 3;
pub(crate) const DEVICES: [&str; 4] = ["desktop", "mobile", "tablet", "pos"];
pub(super) const DESKTOP: u8 = 0;
pub(super) const MOBILE: u8 = 1;
pub(super) const TABLET: u8 = 2;
pub(super) const POS: u8 = 3;
pub(crate) const STATUSES: [&str; 3] = ["completed", "returned", "cancelled"];
pub(super) const COMPLETED: u8 = 0;
pub(super) const RETURNED: u8 = 1;
pub(super) const CANCELLED: u8 = 2;
pub(crate) const GENDERS: [&str; 4] = ["female", "male", "non_binary", "undisclosed"];
pub(crate) const MARITAL: [&str; 4] = ["single", "married", "divorced", "widowed"];
pub(super) const MARRIED: u8 = 1;
pub(crate) const LIFE_EVENTS: [&str; 3] = ["moved", "baby", "married"];
pub(super) const MOVED: u8 = 0;
pub(super) const BABY: u8 = 1;
pub(super) const GOT_MARRIED: u8 = 2;
pub(crate) const PURPOSES: [&str; 3] = ["email_marketing", "profiling", "ad_sync"];
/// Organic promo codes and their percentage off.
pub(crate) const PROMO_CODES: [(&str, i64); 5] = [
    ("WELCOME10", 10),
    ("SAVE10", 10),
    ("DEAL15", 15),
    ("FLASH20", 20),
    ("VIP5", 5),
];
pub(super) const WELCOME: u8 = 0;
