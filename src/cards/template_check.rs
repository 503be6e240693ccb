//! Validation of card templates (JSON in `assets/templates/`), written against `serde_json::Value`
//! and std only so that `build.rs` can include this very file and refuse to build a binary with a
//! broken template, and the library can run the same checks on templates at load time.
//!
//! A template fails when: a colour is not `#RRGGBB`; an element names a colour the template does
//! not define; an element kind or card field is unknown; a box leaves the card; text or a QR code
//! leaves the safe area; a text's minimum size cannot fit one line in its box; the QR box is under
//! 14 mm; or the card has no full name, no MPI ID or no QR code.

use serde_json::Value;

/// Card width and height in millimetres (CR80).
pub const CHECK_CARD_MM: (f64, f64) = (85.60, 53.98);
/// Safe margin in millimetres that text and QR boxes must keep from the trim edge.
pub const CHECK_SAFE_MM: f64 = 2.0;
/// Card fields a template may show.
pub const TEMPLATE_FIELDS: [&str; 9] = [
    "full_name",
    "date_of_birth",
    "sex",
    "mpi_id",
    "health_center",
    "zone",
    "beneficiary_id",
    "enrollment_date",
    "phone",
];
/// Colours every template defines (the ones `sovereign`'s options can override).
pub const REQUIRED_COLORS: [&str; 5] = ["bg", "bg_deep", "accent", "text", "muted"];
/// Smallest text size allowed, in millimetres (about 6 pt: still legible on a thermal printer).
pub const MIN_TEXT_MM: f64 = 1.4;
/// Line height of DejaVu Sans as a multiple of its em size (ascent - descent).
pub const LINE_HEIGHT_EM: f64 = 1.164;

/// Parses a `#RRGGBB` colour.
pub fn parse_hex(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.strip_prefix('#').unwrap_or(s);
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

fn numbers(v: Option<&Value>, n: usize) -> Option<Vec<f64>> {
    let a = v?.as_array()?;
    if a.len() != n {
        return None;
    }
    a.iter().map(|x| x.as_f64()).collect()
}

/// Checks one template; returns every problem found, each naming the element.
pub fn check_template(name: &str, t: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let (cw, ch) = CHECK_CARD_MM;
    let e = |errs: &mut Vec<String>, msg: String| errs.push(format!("template {name}: {msg}"));
    if t.get("name").and_then(Value::as_str) != Some(name) {
        e(&mut errs, "\"name\" must equal the file name".into());
    }
    let colors = t.get("colors").and_then(Value::as_object);
    let Some(colors) = colors else {
        e(&mut errs, "missing \"colors\" object".into());
        return errs;
    };
    for (k, v) in colors {
        if v.as_str().and_then(parse_hex).is_none() {
            e(&mut errs, format!("colour {k} = {v} is not #RRGGBB"));
        }
    }
    for k in REQUIRED_COLORS {
        if !colors.contains_key(k) {
            e(&mut errs, format!("colour {k} is required"));
        }
    }
    let color_ok = |c: Option<&Value>| match c.and_then(Value::as_str) {
        Some(s) if s.starts_with('#') => parse_hex(s).is_some(),
        Some(s) => colors.contains_key(s),
        None => false,
    };
    let Some(elements) = t.get("elements").and_then(Value::as_array) else {
        e(&mut errs, "missing \"elements\" array".into());
        return errs;
    };
    let (mut has_name, mut has_mpi, mut has_qr) = (false, false, false);
    for (i, el) in elements.iter().enumerate() {
        let kind = el.get("kind").and_then(Value::as_str).unwrap_or("");
        let at = format!("element {i} ({kind})");
        let bx = numbers(el.get("box"), 4);
        let in_card = |b: &[f64], m: f64| {
            b[0] >= m - 0.01
                && b[1] >= m - 0.01
                && b[0] + b[2] <= cw - m + 0.01
                && b[1] + b[3] <= ch - m + 0.01
                && b[2] > 0.0
                && b[3] > 0.0
        };
        let check_style = |errs: &mut Vec<String>, s: Option<&Value>, box_h: f64, what: &str| {
            let Some(s) = s else {
                errs.push(format!("template {name}: {at}: missing {what} style"));
                return;
            };
            let size = s.get("size").and_then(Value::as_f64).unwrap_or(0.0);
            let min = s.get("min_size").and_then(Value::as_f64).unwrap_or(size);
            if min < MIN_TEXT_MM || min > size {
                errs.push(format!("template {name}: {at}: {what} needs {MIN_TEXT_MM} <= min_size <= size (got {min}, {size})"));
            }
            if min * LINE_HEIGHT_EM > box_h + 0.01 {
                errs.push(format!("template {name}: {at}: {what} min_size {min} mm does not fit a line in {box_h} mm"));
            }
            if !matches!(
                s.get("face").and_then(Value::as_str),
                Some("regular" | "bold")
            ) {
                errs.push(format!(
                    "template {name}: {at}: {what} face must be regular or bold"
                ));
            }
            if !color_ok(s.get("color")) {
                errs.push(format!(
                    "template {name}: {at}: {what} colour is not defined"
                ));
            }
        };
        match kind {
            "rect" | "circle" | "triangle" | "line" => {
                if !color_ok(el.get("color")) {
                    e(&mut errs, format!("{at}: colour is not defined"));
                }
                if let Some(s) = el.get("stroke") {
                    if !color_ok(Some(s)) {
                        e(&mut errs, format!("{at}: stroke colour is not defined"));
                    }
                }
                let shape_ok = match kind {
                    "rect" => bx.as_deref().is_some_and(|b| b[2] > 0.0 && b[3] > 0.0),
                    "circle" => {
                        numbers(el.get("center"), 2).is_some()
                            && el
                                .get("diameter")
                                .and_then(Value::as_f64)
                                .is_some_and(|d| d > 0.0)
                    }
                    "triangle" => el.get("points").and_then(Value::as_array).is_some_and(|p| {
                        p.len() == 3 && p.iter().all(|q| numbers(Some(q), 2).is_some())
                    }),
                    _ => {
                        numbers(el.get("from"), 2).is_some()
                            && numbers(el.get("to"), 2).is_some()
                            && el
                                .get("width")
                                .and_then(Value::as_f64)
                                .is_some_and(|w| w > 0.0)
                    }
                };
                if !shape_ok {
                    e(&mut errs, format!("{at}: geometry is missing or empty"));
                }
            }
            "text" | "field" | "attrs" | "qr" => {
                let Some(b) = bx else {
                    e(
                        &mut errs,
                        format!("{at}: \"box\" must be [x, y, w, h] in mm"),
                    );
                    continue;
                };
                if !in_card(&b, CHECK_SAFE_MM) {
                    e(
                        &mut errs,
                        format!("{at}: box {b:?} leaves the {CHECK_SAFE_MM} mm safe area"),
                    );
                }
                match kind {
                    "text" => {
                        if el.get("text").and_then(Value::as_str).is_none() {
                            e(&mut errs, format!("{at}: missing \"text\""));
                        }
                        check_style(&mut errs, el.get("style"), b[3], "text");
                    }
                    "field" => {
                        let f = el.get("field").and_then(Value::as_str).unwrap_or("");
                        if !TEMPLATE_FIELDS.contains(&f) {
                            e(&mut errs, format!("{at}: unknown field {f:?}"));
                        }
                        has_name |= f == "full_name";
                        has_mpi |= f == "mpi_id";
                        check_style(&mut errs, el.get("style"), b[3], "field");
                    }
                    "attrs" => {
                        let fields: Vec<&str> = el
                            .get("fields")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        if fields.is_empty() {
                            e(&mut errs, format!("{at}: \"fields\" must list card fields"));
                        }
                        for f in &fields {
                            if !TEMPLATE_FIELDS.contains(f) {
                                e(&mut errs, format!("{at}: unknown field {f:?}"));
                            }
                        }
                        has_mpi |= fields.contains(&"mpi_id");
                        let cols = el
                            .get("columns")
                            .and_then(Value::as_u64)
                            .unwrap_or(1)
                            .max(1) as usize;
                        let rows = fields.len().div_ceil(cols).max(1) as f64;
                        let row_h = b[3] / rows;
                        let label = el
                            .get("label")
                            .and_then(|s| s.get("size"))
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0);
                        check_style(&mut errs, el.get("label"), label * LINE_HEIGHT_EM, "label");
                        check_style(
                            &mut errs,
                            el.get("value"),
                            row_h - label * LINE_HEIGHT_EM,
                            "value",
                        );
                    }
                    _ => {
                        has_qr = true;
                        if b[2].min(b[3]) < 14.0 {
                            e(
                                &mut errs,
                                format!("{at}: QR box must be at least 14 mm square"),
                            );
                        }
                        for k in ["dark", "light"] {
                            if !color_ok(el.get(k)) {
                                e(&mut errs, format!("{at}: {k} colour is not defined"));
                            }
                        }
                    }
                }
            }
            other => e(&mut errs, format!("{at}: unknown kind {other:?}")),
        }
    }
    if !has_name {
        e(&mut errs, "no full_name field".into());
    }
    if !has_mpi {
        e(&mut errs, "no mpi_id field".into());
    }
    if !has_qr {
        e(&mut errs, "no qr element".into());
    }
    errs
}
