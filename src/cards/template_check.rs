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
    if t.get("name").and_then(Value::as_str) != Some(name) {
        errs.push(format!(
            "template {name}: \"name\" must equal the file name"
        ));
    }
    let Some(colors) = t.get("colors").and_then(Value::as_object) else {
        errs.push(format!("template {name}: missing \"colors\" object"));
        return errs;
    };
    let mut check = Check {
        name,
        colors,
        errs,
        has_name: false,
        has_mpi: false,
        has_qr: false,
    };
    check.palette();
    let Some(elements) = t.get("elements").and_then(Value::as_array) else {
        check.err("missing \"elements\" array".into());
        return check.errs;
    };
    for (i, el) in elements.iter().enumerate() {
        check.element(i, el);
    }
    for (present, what) in [
        (check.has_name, "no full_name field"),
        (check.has_mpi, "no mpi_id field"),
        (check.has_qr, "no qr element"),
    ] {
        if !present {
            check.err(what.into());
        }
    }
    check.errs
}

/// True when box `b` (`[x, y, w, h]` mm) is not empty and keeps `margin` mm inside the card.
fn in_card(b: &[f64], margin: f64) -> bool {
    let (cw, ch) = CHECK_CARD_MM;
    b[0] >= margin - 0.01
        && b[1] >= margin - 0.01
        && b[0] + b[2] <= cw - margin + 0.01
        && b[1] + b[3] <= ch - margin + 0.01
        && b[2] > 0.0
        && b[3] > 0.0
}

/// One template's check in progress: its palette, the problems found so far, and whether the
/// elements seen so far show the full name, the MPI ID and a QR code.
struct Check<'t> {
    name: &'t str,
    colors: &'t serde_json::Map<String, Value>,
    errs: Vec<String>,
    has_name: bool,
    has_mpi: bool,
    has_qr: bool,
}

impl Check<'_> {
    fn err(&mut self, msg: String) {
        self.errs.push(format!("template {}: {msg}", self.name));
    }

    /// Every colour is `#RRGGBB` and the required ones are defined.
    fn palette(&mut self) {
        let colors = self.colors;
        for (k, v) in colors {
            if v.as_str().and_then(parse_hex).is_none() {
                self.err(format!("colour {k} = {v} is not #RRGGBB"));
            }
        }
        for k in REQUIRED_COLORS {
            if !colors.contains_key(k) {
                self.err(format!("colour {k} is required"));
            }
        }
    }

    /// A colour given as `#RRGGBB` or as the name of one of the template's colours.
    fn color_ok(&self, c: Option<&Value>) -> bool {
        match c.and_then(Value::as_str) {
            Some(s) if s.starts_with('#') => parse_hex(s).is_some(),
            Some(s) => self.colors.contains_key(s),
            None => false,
        }
    }

    fn element(&mut self, i: usize, el: &Value) {
        let kind = el.get("kind").and_then(Value::as_str).unwrap_or("");
        let at = format!("element {i} ({kind})");
        match kind {
            "rect" | "circle" | "triangle" | "line" => self.shape(&at, kind, el),
            "text" | "field" | "attrs" | "qr" => {
                let Some(b) = numbers(el.get("box"), 4) else {
                    self.err(format!("{at}: \"box\" must be [x, y, w, h] in mm"));
                    return;
                };
                if !in_card(&b, CHECK_SAFE_MM) {
                    self.err(format!(
                        "{at}: box {b:?} leaves the {CHECK_SAFE_MM} mm safe area"
                    ));
                }
                match kind {
                    "text" => {
                        if el.get("text").and_then(Value::as_str).is_none() {
                            self.err(format!("{at}: missing \"text\""));
                        }
                        self.style(&at, el.get("style"), b[3], "text");
                    }
                    "field" => self.field(&at, el, &b),
                    "attrs" => self.attrs(&at, el, &b),
                    _ => self.qr(&at, el, &b),
                }
            }
            other => self.err(format!("{at}: unknown kind {other:?}")),
        }
    }

    /// A shape: its colours are defined and its geometry is there and not empty.
    fn shape(&mut self, at: &str, kind: &str, el: &Value) {
        if !self.color_ok(el.get("color")) {
            self.err(format!("{at}: colour is not defined"));
        }
        if let Some(s) = el.get("stroke") {
            if !self.color_ok(Some(s)) {
                self.err(format!("{at}: stroke colour is not defined"));
            }
        }
        let positive = |key: &str| el.get(key).and_then(Value::as_f64).is_some_and(|v| v > 0.0);
        let shape_ok = match kind {
            "rect" => numbers(el.get("box"), 4).is_some_and(|b| b[2] > 0.0 && b[3] > 0.0),
            "circle" => numbers(el.get("center"), 2).is_some() && positive("diameter"),
            "triangle" => el
                .get("points")
                .and_then(Value::as_array)
                .is_some_and(|p| p.len() == 3 && p.iter().all(|q| numbers(Some(q), 2).is_some())),
            _ => {
                numbers(el.get("from"), 2).is_some()
                    && numbers(el.get("to"), 2).is_some()
                    && positive("width")
            }
        };
        if !shape_ok {
            self.err(format!("{at}: geometry is missing or empty"));
        }
    }

    /// A text style: a legible minimum size that fits one line of `box_h` mm, a known face and a
    /// defined colour.
    fn style(&mut self, at: &str, s: Option<&Value>, box_h: f64, what: &str) {
        let Some(s) = s else {
            self.err(format!("{at}: missing {what} style"));
            return;
        };
        let size = s.get("size").and_then(Value::as_f64).unwrap_or(0.0);
        let min = s.get("min_size").and_then(Value::as_f64).unwrap_or(size);
        if min < MIN_TEXT_MM || min > size {
            self.err(format!(
                "{at}: {what} needs {MIN_TEXT_MM} <= min_size <= size (got {min}, {size})"
            ));
        }
        if min * LINE_HEIGHT_EM > box_h + 0.01 {
            self.err(format!(
                "{at}: {what} min_size {min} mm does not fit a line in {box_h} mm"
            ));
        }
        if !matches!(
            s.get("face").and_then(Value::as_str),
            Some("regular" | "bold")
        ) {
            self.err(format!("{at}: {what} face must be regular or bold"));
        }
        if !self.color_ok(s.get("color")) {
            self.err(format!("{at}: {what} colour is not defined"));
        }
    }

    /// One card field in box `b`.
    fn field(&mut self, at: &str, el: &Value, b: &[f64]) {
        let f = el.get("field").and_then(Value::as_str).unwrap_or("");
        if !TEMPLATE_FIELDS.contains(&f) {
            self.err(format!("{at}: unknown field {f:?}"));
        }
        self.has_name |= f == "full_name";
        self.has_mpi |= f == "mpi_id";
        self.style(at, el.get("style"), b[3], "field");
    }

    /// Labelled card fields in columns: each row of box `b` holds a label line and a value.
    fn attrs(&mut self, at: &str, el: &Value, b: &[f64]) {
        let fields: Vec<&str> = el
            .get("fields")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if fields.is_empty() {
            self.err(format!("{at}: \"fields\" must list card fields"));
        }
        for f in &fields {
            if !TEMPLATE_FIELDS.contains(f) {
                self.err(format!("{at}: unknown field {f:?}"));
            }
        }
        self.has_mpi |= fields.contains(&"mpi_id");
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
        self.style(at, el.get("label"), label * LINE_HEIGHT_EM, "label");
        self.style(at, el.get("value"), row_h - label * LINE_HEIGHT_EM, "value");
    }

    /// The QR code: at least 14 mm square, with defined dark and light colours.
    fn qr(&mut self, at: &str, el: &Value, b: &[f64]) {
        self.has_qr = true;
        if b[2].min(b[3]) < 14.0 {
            self.err(format!("{at}: QR box must be at least 14 mm square"));
        }
        for k in ["dark", "light"] {
            if !self.color_ok(el.get(k)) {
                self.err(format!("{at}: {k} colour is not defined"));
            }
        }
    }
}
