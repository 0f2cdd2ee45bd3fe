//! Rendering: text tables, JSON and SVG figures.

pub mod model_plot;
pub mod model_table;
pub mod svg;
pub mod table;

pub use model_plot::render_model_svg;
pub use model_table::render_model;
