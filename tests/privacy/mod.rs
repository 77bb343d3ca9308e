//! Privacy: erasure and suppression (`forget`), the audit log.

mod forget;
