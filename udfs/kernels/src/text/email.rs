//! E-mail addresses: the Google Ads Customer Match upload rule and the
//! identity-matching rule.
//!
//! Both first trim (Unicode whitespace), lowercase, and refuse anything that
//! is not `local@domain` with exactly one `@`, both parts non-empty and no
//! whitespace inside: `None`, so a hash of garbage is never produced.

/// Domains whose mailboxes ignore dots in the local part.
const GMAIL_DOMAINS: [&str; 2] = ["gmail.com", "googlemail.com"];

/// Splits a trimmed, lowercased address into (local, domain), or `None`.
fn parts(value: &str) -> Option<(String, String)> {
    let lower = value.trim().to_lowercase();
    if lower.chars().any(char::is_whitespace) {
        return None;
    }
    let (local, domain) = lower.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    Some((local.to_string(), domain.to_string()))
}

/// Customer Match: trim, lowercase, and for `gmail.com` / `googlemail.com`
/// remove the dots of the local part. Nothing else: plus-tags and the
/// domain stay as they are.
pub fn customer_match_email(value: &str) -> Option<String> {
    let (mut local, domain) = parts(value)?;
    if GMAIL_DOMAINS.contains(&domain.as_str()) {
        local.retain(|c| c != '.');
    }
    (!local.is_empty()).then(|| format!("{local}@{domain}"))
}

/// Identity matching: trim, lowercase, drop a plus-tag (`+` and what follows
/// in the local part, for every domain), and for Gmail remove the dots of
/// the local part and spell `googlemail.com` as `gmail.com` (one mailbox).
pub fn match_email(value: &str) -> Option<String> {
    let (mut local, mut domain) = parts(value)?;
    if let Some(plus) = local.find('+') {
        local.truncate(plus);
    }
    if GMAIL_DOMAINS.contains(&domain.as_str()) {
        local.retain(|c| c != '.');
        domain = "gmail.com".to_string();
    }
    (!local.is_empty()).then(|| format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_match_keeps_plus_tags_and_other_domains() {
        assert_eq!(
            customer_match_email("  Jane.Doe+News@GMail.com ").as_deref(),
            Some("janedoe+news@gmail.com")
        );
        assert_eq!(
            customer_match_email("jane.doe@googlemail.com").as_deref(),
            Some("janedoe@googlemail.com")
        );
        assert_eq!(
            customer_match_email("Jane.Doe@Example.com").as_deref(),
            Some("jane.doe@example.com")
        );
    }

    #[test]
    fn matching_drops_tags_and_unifies_gmail() {
        assert_eq!(
            match_email(" Jane.Doe+News@GoogleMail.com").as_deref(),
            Some("janedoe@gmail.com")
        );
        assert_eq!(
            match_email("jane.doe+x@example.com").as_deref(),
            Some("jane.doe@example.com")
        );
    }

    #[test]
    fn invalid_addresses_are_none() {
        for bad in [
            "",
            "   ",
            "jane",
            "@example.com",
            "jane@",
            "a@b@c",
            "ja ne@example.com",
            "...@gmail.com",
        ] {
            assert_eq!(customer_match_email(bad), None, "{bad:?}");
        }
        assert_eq!(match_email("+tag@example.com"), None);
    }
}
