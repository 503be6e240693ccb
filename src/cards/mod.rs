//! ID cards: templates, CR80 geometry at 300/450/600 dpi, an RGB framebuffer implementing
//! embedded-graphics' `DrawTarget` with anti-aliased TrueType text, QR codes, PNG encoding,
//! A4 sheets, and generation tasks (rayon) with progress.
pub mod cli;
