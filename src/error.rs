//! The crate's error, `crate::Error`: defined in `container::error`, the
//! lowest module that meets every other module's error, and re-exported
//! here for `cli`, `build` and `main.rs`.

pub use crate::container::error::{Error, Result};
