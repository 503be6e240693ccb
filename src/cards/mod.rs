//! ID cards: templates as data, CR80 geometry at 300/450/600 dpi, an indexed framebuffer that
//! implements embedded-graphics' `DrawTarget` with anti-aliased TrueType text blended into the
//! same pixels, signed QR codes, PNG encoding, A4 sheets, and generation tasks (rayon) with
//! progress, resume and content hashes.
//!
//! Who calls what: the web page calls [`preview_png`] (one card from the store) and
//! [`generate`] (bulk, as a task); anything without a store (tests, the benchmark, a draft
//! preview) calls [`render_card_png`] with a [`CardContent`]. This module reads the store through
//! `store::records` and `store::card_data` and never writes SQL itself. Reading a card back from
//! a photo (`kadi verify --image`, the `/verify` page) is [`scan::decode_qr`].
pub mod bench;
pub mod frame;
pub mod generate;
pub mod geometry;
pub mod pdf;
pub mod png_out;
pub mod qr;
pub mod render;
pub mod scan;
pub mod sheet;
pub mod template;
pub mod template_check;
pub mod text;

pub use generate::{
    generate, queue, run_queued, task_view, BadRequest, EnrollmentFilter, GenerateReport,
    GenerateRequest, QueuedTask, TaskView,
};
pub use render::{CardContent, RenderOptions};
pub use template::{template_names, Template, TemplateOptions};

use crate::store::Store;
use anyhow::{Context, Result};

/// Something that names a template: a name (`"pulse"`) or a [`Template`] already resolved (for
/// example with `sovereign`'s options applied).
pub trait TemplateRef {
    /// The template to render with.
    fn resolve(&self) -> Result<Template>;
}

impl TemplateRef for str {
    fn resolve(&self) -> Result<Template> {
        Template::named(self)
    }
}

impl TemplateRef for &str {
    fn resolve(&self) -> Result<Template> {
        Template::named(self)
    }
}

impl TemplateRef for Template {
    fn resolve(&self) -> Result<Template> {
        Ok(self.clone())
    }
}

/// Renders one card to PNG bytes without a store (MPI ID printed, whole card on this thread).
pub fn render_card_png<T: TemplateRef + ?Sized>(
    card: &CardContent,
    template: &T,
    dpi: u32,
) -> Result<Vec<u8>> {
    render_card_png_with(card, &template.resolve()?, RenderOptions::at(dpi))
}

/// Renders one card to PNG bytes with explicit options (MPI ID shown or not, bands).
pub fn render_card_png_with(
    card: &CardContent,
    template: &Template,
    opts: RenderOptions,
) -> Result<Vec<u8>> {
    let frame = render::render_frame(card, template, opts)?;
    png_out::encode_png(&frame, opts.dpi)
}

/// Renders the card of one enrollment as PNG bytes (for the page's preview and print).
pub fn preview_png(
    store: &Store,
    enrollment_uid: &str,
    template: &str,
    dpi: u32,
) -> Result<Vec<u8>> {
    preview_png_with(
        store,
        enrollment_uid,
        template,
        &TemplateOptions::default(),
        dpi,
    )
}

/// [`preview_png`] with template options (`template_options` or the API reference's
/// `sovereign_config`: colours, font scale, how many attributes).
pub fn preview_png_with(
    store: &Store,
    enrollment_uid: &str,
    template: &str,
    options: &TemplateOptions,
    dpi: u32,
) -> Result<Vec<u8>> {
    let template = Template::named(template)?.with_options(options)?;
    geometry::check_dpi(dpi)?;
    let record = store
        .card_record(enrollment_uid)?
        .with_context(|| format!("no card record for enrollment {enrollment_uid}"))?;
    let card = CardContent::from_record(&record, qr::payload(store, &record)?);
    // A single preview uses both cores through bands: the page waits for it.
    let opts = RenderOptions {
        dpi,
        include_mpi_id: true,
        bands: if dpi >= 450 { 2 } else { 1 },
    };
    render_card_png_with(&card, &template, opts)
        .with_context(|| format!("rendering the card of enrollment {enrollment_uid}"))
}
