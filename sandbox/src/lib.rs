//! Local emulators of Skolverket's provtjänst and IST EduCloud, and a
//! synthetic municipality generator.
//!
//! Filled by the sandbox issue; empty until then.
