//! Lays a template out for one card's content and paints it into a [`Frame`]: shapes and QR
//! modules through embedded-graphics, text through `text.rs`. A large card can be painted as
//! horizontal bands on rayon's threads; every band runs the same drawing code clipped to its rows,
//! so the pixels are identical whatever the number of bands.
use super::frame::Frame;
use super::geometry::{card_px, check_dpi, mm_to_px};
use super::qr;
use super::template::{Element, Style, Template};
use super::text::{draw_text, Fitted, PxBox, TextStyle};
use crate::store::records::ResolvedCard;
use anyhow::{bail, Result};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Circle, Line, PrimitiveStyleBuilder, Rectangle, RoundedRectangle, StrokeAlignment,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// What a card shows, already formatted for print. Built from a store record with
/// [`CardContent::from_record`] or by hand (tests, the benchmark, the web preview of a draft).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardContent {
    /// First and last name.
    pub full_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// `M`, `F` or `U` (printed as "M", "F" or "—").
    pub sex: Option<String>,
    /// The MPI ID (opaque), if the enrollment is resolved.
    pub mpi_id: Option<String>,
    /// Health centre name.
    pub health_center: Option<String>,
    /// Zone or district (org unit ancestor).
    pub zone: Option<String>,
    /// Programme beneficiary ID.
    pub beneficiary_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub enrollment_date: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
    /// What the QR code carries (see `qr.rs`): the signed card payload (`KC1:`).
    pub qr_payload: String,
}

impl CardContent {
    /// The card of a store record with its QR payload (see [`qr::payload`]). An unresolved
    /// record (no MPI ID yet) prints "—" as its MPI ID and its QR carries `ENR:<enrollment uid>`,
    /// signed the same way, so the card still verifies.
    pub fn from_record(card: &ResolvedCard, qr_payload: String) -> CardContent {
        let f = &card.record.fields;
        let clean = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        CardContent {
            full_name: f.full_name(),
            date_of_birth: clean(f.date_of_birth.as_deref()),
            sex: clean(f.gender.as_deref()),
            mpi_id: card.mpi_id.clone(),
            health_center: clean(f.health_center.as_deref()),
            zone: clean(f.zone.as_deref().or(f.org_unit.as_deref())),
            beneficiary_id: clean(f.beneficiary_id.as_deref()),
            enrollment_date: clean(f.enrollment_date.as_deref()),
            phone: clean(f.phone_number.as_deref()),
            qr_payload,
        }
    }

    /// The printed value of a template field; `None` when the card has no value for it.
    pub fn value(&self, field: &str) -> Option<String> {
        match field {
            "full_name" => Some(self.full_name.clone()).filter(|s| !s.trim().is_empty()),
            "sex" => self
                .sex
                .as_deref()
                .map(|s| match s.trim().to_ascii_uppercase().as_str() {
                    "M" => "M".to_string(),
                    "F" => "F".to_string(),
                    _ => "—".to_string(),
                }),
            "date_of_birth" => self.date_of_birth.clone(),
            "mpi_id" => self.mpi_id.clone(),
            "health_center" => self.health_center.clone(),
            "zone" => self.zone.clone(),
            "beneficiary_id" => self.beneficiary_id.clone(),
            "enrollment_date" => self.enrollment_date.clone(),
            "phone" => self.phone.clone(),
            _ => None,
        }
    }
}

/// The printed label of a field: French first (the cards' countries), English second.
pub fn field_label(field: &str) -> &'static str {
    match field {
        "full_name" => "Nom · Name",
        "date_of_birth" => "Né(e) le · Born",
        "sex" => "Sexe · Sex",
        "mpi_id" => "ID patient · MPI ID",
        "health_center" => "Centre de santé · Health centre",
        "zone" => "District · Zone",
        "beneficiary_id" => "N° bénéficiaire · Beneficiary ID",
        "enrollment_date" => "Inscrit le · Enrolled",
        "phone" => "Téléphone · Phone",
        _ => "",
    }
}

/// How to render: resolution, whether the MPI ID is printed, and into how many bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// 300, 450 or 600.
    pub dpi: u32,
    /// Print the MPI ID as text (the QR always carries it, signed).
    pub include_mpi_id: bool,
    /// Horizontal bands painted in parallel (1 = the whole card on the calling thread).
    pub bands: u32,
}

impl RenderOptions {
    /// `dpi`, MPI ID printed, one band.
    pub fn at(dpi: u32) -> RenderOptions {
        RenderOptions {
            dpi,
            include_mpi_id: true,
            bands: 1,
        }
    }
}

/// Where text of one card landed (for tests that check nothing leaves its box).
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The field name, or `text` for fixed text, `label:<field>` for labels.
    pub what: String,
    /// Its box in pixels.
    pub bx: PxBox,
    /// What was drawn.
    pub fitted: Fitted,
}

/// Renders `card` with `template` into a frame of the whole card.
pub fn render_frame(card: &CardContent, template: &Template, opts: RenderOptions) -> Result<Frame> {
    Ok(render_frame_placed(card, template, opts)?.0)
}

/// Like [`render_frame`], also returning where every text went.
pub fn render_frame_placed(
    card: &CardContent,
    template: &Template,
    opts: RenderOptions,
) -> Result<(Frame, Vec<Placed>)> {
    check_dpi(opts.dpi)?;
    if card.full_name.trim().is_empty() {
        bail!("the card has no name: a card needs a first or last name");
    }
    let (w, h) = card_px(opts.dpi);
    let bg = template.color("bg")?;
    let bands = opts.bands.clamp(1, 64);
    if bands == 1 {
        let mut frame = Frame::new(w, h, bg);
        let placed = paint(&mut frame, card, template, opts)?;
        return Ok((frame, placed));
    }
    let rows = h.div_ceil(bands);
    let painted: Vec<(Frame, Vec<Placed>)> = (0..bands)
        .into_par_iter()
        .map(|b| {
            let mut band = Frame::band(w, h, b * rows, rows, bg);
            let placed = paint(&mut band, card, template, opts)?;
            Ok((band, placed))
        })
        .collect::<Result<_>>()?;
    let mut whole = Frame::new(w, h, bg);
    for (band, _) in &painted {
        band.paste_into(&mut whole);
    }
    let placed = painted
        .into_iter()
        .next()
        .map(|(_, p)| p)
        .unwrap_or_default();
    Ok((whole, placed))
}

fn text_style(template: &Template, style: &Style, dpi: u32) -> Result<TextStyle> {
    let scale = template.options.font_scale.unwrap_or(1.0);
    let px = |mm: f32| (mm_to_px(mm * scale, dpi)).max(1) as u32;
    Ok(TextStyle {
        face: style.face,
        max_px: px(style.size),
        min_px: px(style.min_size.unwrap_or(style.size)),
        max_lines: style.max_lines,
        align: style.align,
        ink: template.color(&style.color)?,
    })
}

fn px_box(b: [f32; 4], dpi: u32) -> PxBox {
    let x = mm_to_px(b[0], dpi);
    let y = mm_to_px(b[1], dpi);
    PxBox {
        x,
        y,
        w: mm_to_px(b[0] + b[2], dpi) - x,
        h: mm_to_px(b[1] + b[3], dpi) - y,
    }
}

fn point(p: [f32; 2], dpi: u32) -> Point {
    Point::new(mm_to_px(p[0], dpi), mm_to_px(p[1], dpi))
}

fn cased(text: &str, style: &Style) -> String {
    if style.upper {
        text.to_uppercase()
    } else {
        text.to_string()
    }
}

/// Fills a triangle (pixel coordinates) one horizontal span per row, sampling at pixel centres.
/// embedded-graphics' own triangle overflows i32 in its collinearity test at card sizes.
fn fill_triangle(
    frame: &mut Frame,
    p: [(f64, f64); 3],
    color: embedded_graphics::pixelcolor::Rgb888,
) {
    let top = p
        .iter()
        .map(|q| q.1)
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as i32;
    let bottom = p
        .iter()
        .map(|q| q.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil()
        .min(frame.height() as f64) as i32;
    for y in top.max(frame.y0() as i32)..bottom.min((frame.y0() + frame.rows()) as i32) {
        let yc = y as f64 + 0.5;
        let mut xs: Vec<f64> = Vec::with_capacity(3);
        for i in 0..3 {
            let (a, b) = (p[i], p[(i + 1) % 3]);
            if (a.1 <= yc && b.1 > yc) || (b.1 <= yc && a.1 > yc) {
                xs.push(a.0 + (yc - a.1) * (b.0 - a.0) / (b.1 - a.1));
            }
        }
        if xs.len() < 2 {
            continue;
        }
        let x0 = xs.iter().cloned().fold(f64::INFINITY, f64::min);
        let x1 = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (x0, x1) = ((x0 - 0.5).ceil() as i32, (x1 - 0.5).ceil() as i32);
        if x1 > x0 {
            let _ = frame.fill_solid(
                &Rectangle::new(Point::new(x0, y), Size::new((x1 - x0) as u32, 1)),
                color,
            );
        }
    }
}

/// Paints every element of `template` into `frame` (a whole card or one band of it).
fn paint(
    frame: &mut Frame,
    card: &CardContent,
    t: &Template,
    opts: RenderOptions,
) -> Result<Vec<Placed>> {
    let dpi = opts.dpi;
    let mut placed = Vec::new();
    let shown = |field: &str| opts.include_mpi_id || field != "mpi_id";
    let mut attrs_budget = t.options.max_attrs.unwrap_or(usize::MAX);
    for el in &t.elements {
        match el {
            Element::Text { bx, text, style } => {
                let b = px_box(*bx, dpi);
                let fitted = draw_text(frame, &cased(text, style), &text_style(t, style, dpi)?, b)?;
                placed.push(Placed {
                    what: "text".into(),
                    bx: b,
                    fitted,
                });
            }
            Element::Field { bx, field, style } => {
                if !shown(field) {
                    continue;
                }
                if let Some(v) = card.value(field) {
                    let b = px_box(*bx, dpi);
                    let fitted =
                        draw_text(frame, &cased(&v, style), &text_style(t, style, dpi)?, b)?;
                    placed.push(Placed {
                        what: field.clone(),
                        bx: b,
                        fitted,
                    });
                }
            }
            Element::Attrs {
                bx,
                fields,
                columns,
                label,
                value,
            } => {
                let fields: Vec<&String> = fields
                    .iter()
                    .filter(|f| shown(f))
                    .take(attrs_budget)
                    .collect();
                attrs_budget = attrs_budget.saturating_sub(fields.len());
                if fields.is_empty() {
                    continue;
                }
                let grid = AttrsGrid {
                    bx: px_box(*bx, dpi),
                    columns: *columns,
                    label: text_style(t, label, dpi)?,
                    value: text_style(t, value, dpi)?,
                    value_case: value,
                };
                paint_attrs(frame, card, &grid, &fields, dpi, &mut placed)?;
            }
            Element::Qr { bx, dark, light } => {
                let b = px_box(*bx, dpi);
                qr::draw(
                    frame,
                    &card.qr_payload,
                    b.x,
                    b.y,
                    b.w.min(b.h),
                    t.color(dark)?,
                    t.color(light)?,
                )?;
            }
            shape => paint_shape(frame, shape, t, dpi)?,
        }
    }
    Ok(placed)
}

/// Draws a rectangle, circle, triangle or line (the elements that show no card data); other
/// elements are drawn by [`paint`] itself and draw nothing here.
fn paint_shape(frame: &mut Frame, el: &Element, t: &Template, dpi: u32) -> Result<()> {
    match el {
        Element::Rect {
            bx,
            color,
            radius,
            stroke,
            stroke_width,
        } => {
            let b = px_box(*bx, dpi);
            let rect = Rectangle::new(
                Point::new(b.x, b.y),
                Size::new(b.w.max(0) as u32, b.h.max(0) as u32),
            );
            let mut style = PrimitiveStyleBuilder::new().fill_color(t.color(color)?);
            if let Some(s) = stroke {
                style = style
                    .stroke_color(t.color(s)?)
                    .stroke_width(mm_to_px(*stroke_width, dpi).max(1) as u32)
                    .stroke_alignment(StrokeAlignment::Inside);
            }
            let r = mm_to_px(*radius, dpi).max(0) as u32;
            if r == 0 && stroke.is_none() {
                let _ = frame.fill_solid(&rect, t.color(color)?);
            } else {
                let _ = RoundedRectangle::with_equal_corners(rect, Size::new(r, r))
                    .into_styled(style.build())
                    .draw(frame);
            }
        }
        Element::Circle {
            center,
            diameter,
            color,
            stroke,
            stroke_width,
        } => {
            let d = mm_to_px(*diameter, dpi).max(1);
            let c = point(*center, dpi);
            let mut style = PrimitiveStyleBuilder::new().fill_color(t.color(color)?);
            if let Some(s) = stroke {
                style = style
                    .stroke_color(t.color(s)?)
                    .stroke_width(mm_to_px(*stroke_width, dpi).max(1) as u32);
            }
            let _ = Circle::with_center(c, d as u32)
                .into_styled(style.build())
                .draw(frame);
        }
        Element::Triangle { points, color } => {
            let pts = points.map(|p| {
                (
                    p[0] as f64 / 25.4 * dpi as f64,
                    p[1] as f64 / 25.4 * dpi as f64,
                )
            });
            fill_triangle(frame, pts, t.color(color)?);
        }
        Element::Line {
            from,
            to,
            width,
            color,
        } => {
            let style = PrimitiveStyleBuilder::new()
                .stroke_color(t.color(color)?)
                .stroke_width(mm_to_px(*width, dpi).max(1) as u32)
                .build();
            let _ = Line::new(point(*from, dpi), point(*to, dpi))
                .into_styled(style)
                .draw(frame);
        }
        Element::Text { .. }
        | Element::Field { .. }
        | Element::Attrs { .. }
        | Element::Qr { .. } => {}
    }
    Ok(())
}

/// An attributes element resolved for one dpi: its box, columns and the label and value styles.
struct AttrsGrid<'t> {
    bx: PxBox,
    columns: u32,
    label: TextStyle,
    value: TextStyle,
    /// The value style as written (its letter case applies to values).
    value_case: &'t Style,
}

/// Draws labelled fields in a grid of `columns`: each cell a label line over its value ("—"
/// for a field the card does not have).
fn paint_attrs(
    frame: &mut Frame,
    card: &CardContent,
    grid: &AttrsGrid<'_>,
    fields: &[&String],
    dpi: u32,
    placed: &mut Vec<Placed>,
) -> Result<()> {
    let b = grid.bx;
    let (ls, vs) = (&grid.label, &grid.value);
    let cols = grid.columns.max(1) as i32;
    let rows = (fields.len() as i32 + cols - 1) / cols;
    let (cell_w, cell_h) = (b.w / cols, b.h / rows.max(1));
    let label_h = (ls.max_px as f32 * 1.2).ceil() as i32;
    let value_h =
        ((vs.max_px as f32 * 1.22).ceil() as i32 * vs.max_lines as i32).min(cell_h - label_h);
    let gap = (cell_w / 16).min(mm_to_px(1.5, dpi));
    for (i, f) in fields.iter().enumerate() {
        let (cx, cy) = (
            b.x + (i as i32 % cols) * cell_w,
            b.y + (i as i32 / cols) * cell_h,
        );
        let w = if i as i32 % cols == cols - 1 {
            cell_w
        } else {
            cell_w - gap
        };
        let lb = PxBox {
            x: cx,
            y: cy,
            w,
            h: label_h,
        };
        let fitted = draw_text(frame, field_label(f), ls, lb)?;
        placed.push(Placed {
            what: format!("label:{f}"),
            bx: lb,
            fitted,
        });
        let vb = PxBox {
            x: cx,
            y: cy + label_h,
            w,
            h: value_h,
        };
        let v = card.value(f).unwrap_or_else(|| "—".to_string());
        let fitted = draw_text(frame, &cased(&v, grid.value_case), vs, vb)?;
        placed.push(Placed {
            what: f.to_string(),
            bx: vb,
            fitted,
        });
    }
    Ok(())
}
