//! Source connectors: IST EduCloud, any SS 12000 v2 API and CSV exports.
//!
//! Filled by the connectors issue; empty until then.
