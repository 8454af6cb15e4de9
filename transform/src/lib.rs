//! Transform: SS 12000 entities to the provtjänst profile.
//!
//! Filled by the transform issue; empty until then.
