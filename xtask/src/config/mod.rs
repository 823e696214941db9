//! Where inputs come from: flag > environment variable > the checked-in config file >
//! built-in default. [`Sources`] is read once at start-up; everything after it is pure.

mod file;
mod sources;
mod startup;

pub use file::{Config, ImageEntry, CONFIG_FILE};
pub use sources::{expand, Origin, Picked, Sources};
pub use startup::project_root;
