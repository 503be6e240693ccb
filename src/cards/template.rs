//! Card templates as data: each of the ten templates is a JSON file in `assets/templates/`
//! (colours, boxes in millimetres, which fields, text sizes), embedded in the binary and checked
//! by `build.rs` with [`super::template_check`]. Adding a template is adding a JSON file and a line
//! to [`EMBEDDED`]; no drawing code changes.
//!
//! Options (`sovereign` is designed around them, every template accepts them): `accent_hex`,
//! `bg_hex`, `bg_deep_hex` replace the template's `accent`, `bg` and `bg_deep` colours;
//! `font_scale` (0.7 to 1.4) scales every text size (boxes stay put, so text still fits);
//! `max_attrs` (1 to 9) caps how many label/value attributes the card lists.
use super::template_check::{check_template, parse_hex};
use super::text::{Align, Face};
use anyhow::{anyhow, bail, Context, Result};
use embedded_graphics::pixelcolor::Rgb888;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The embedded templates, by name.
pub const EMBEDDED: [(&str, &str); 10] = [
    ("vital", include_str!("../../assets/templates/vital.json")),
    (
        "emerald",
        include_str!("../../assets/templates/emerald.json"),
    ),
    ("pulse", include_str!("../../assets/templates/pulse.json")),
    (
        "mothercare",
        include_str!("../../assets/templates/mothercare.json"),
    ),
    ("shield", include_str!("../../assets/templates/shield.json")),
    ("nomad", include_str!("../../assets/templates/nomad.json")),
    ("aero", include_str!("../../assets/templates/aero.json")),
    (
        "horizon",
        include_str!("../../assets/templates/horizon.json"),
    ),
    ("aurora", include_str!("../../assets/templates/aurora.json")),
    (
        "sovereign",
        include_str!("../../assets/templates/sovereign.json"),
    ),
];

/// Names of the templates kadi ships, in display order.
pub fn template_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(n, _)| *n).collect()
}

/// How a piece of text is set: sizes in millimetres, colour by name or `#RRGGBB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Style {
    /// Regular or bold.
    pub face: Face,
    /// Preferred em size in mm.
    pub size: f32,
    /// Smallest em size in mm before wrapping or an ellipsis.
    #[serde(default)]
    pub min_size: Option<f32>,
    /// Most lines the text may wrap onto.
    #[serde(default = "one")]
    pub max_lines: u32,
    /// Horizontal alignment.
    #[serde(default)]
    pub align: Align,
    /// Colour name from the template's `colors`, or `#RRGGBB`.
    pub color: String,
    /// Upper-case the text (headers).
    #[serde(default)]
    pub upper: bool,
}

fn one() -> u32 {
    1
}

/// One drawing instruction; coordinates in millimetres from the card's top-left corner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Element {
    /// A filled (optionally rounded, optionally stroked) rectangle.
    Rect {
        #[serde(rename = "box")]
        bx: [f32; 4],
        color: String,
        #[serde(default)]
        radius: f32,
        #[serde(default)]
        stroke: Option<String>,
        #[serde(default)]
        stroke_width: f32,
    },
    /// A filled circle.
    Circle {
        center: [f32; 2],
        diameter: f32,
        color: String,
        #[serde(default)]
        stroke: Option<String>,
        #[serde(default)]
        stroke_width: f32,
    },
    /// A filled triangle.
    Triangle {
        points: [[f32; 2]; 3],
        color: String,
    },
    /// A straight line.
    Line {
        from: [f32; 2],
        to: [f32; 2],
        width: f32,
        color: String,
    },
    /// Fixed text (titles, programme names).
    Text {
        #[serde(rename = "box")]
        bx: [f32; 4],
        text: String,
        style: Style,
    },
    /// One card field's value, without a label.
    Field {
        #[serde(rename = "box")]
        bx: [f32; 4],
        field: String,
        style: Style,
    },
    /// A grid of label/value pairs.
    Attrs {
        #[serde(rename = "box")]
        bx: [f32; 4],
        fields: Vec<String>,
        #[serde(default = "one")]
        columns: u32,
        label: Style,
        value: Style,
    },
    /// The QR code (square, filling its box, quiet zone included).
    Qr {
        #[serde(rename = "box")]
        bx: [f32; 4],
        dark: String,
        light: String,
    },
}

/// A card template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    /// Name, as used on the command line and in the API.
    pub name: String,
    /// What the template is for.
    pub description: String,
    /// Named colours as `#RRGGBB`.
    pub colors: BTreeMap<String, String>,
    /// Drawing instructions, in painting order.
    pub elements: Vec<Element>,
    /// Options applied (see the module doc); defaults do nothing.
    #[serde(default)]
    pub options: TemplateOptions,
}

/// Per-card overrides of a template (`sovereign`'s parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateOptions {
    /// Replaces the `accent` colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_hex: Option<String>,
    /// Replaces the `bg` colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bg_hex: Option<String>,
    /// Replaces the `bg_deep` colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bg_deep_hex: Option<String>,
    /// Scales every text size (0.7 to 1.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_scale: Option<f32>,
    /// Caps the number of label/value attributes shown (1 to 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attrs: Option<usize>,
}

static PARSED: OnceLock<Result<Vec<Template>, String>> = OnceLock::new();

fn parsed() -> Result<&'static [Template]> {
    PARSED
        .get_or_init(|| {
            EMBEDDED
                .iter()
                .map(|(name, json)| {
                    let v: serde_json::Value =
                        serde_json::from_str(json).map_err(|e| format!("template {name}: {e}"))?;
                    let errs = check_template(name, &v);
                    if !errs.is_empty() {
                        return Err(errs.join("; "));
                    }
                    serde_json::from_value(v).map_err(|e| format!("template {name}: {e}"))
                })
                .collect()
        })
        .as_deref()
        .map_err(|e| anyhow!("{e}"))
}

impl Template {
    /// The embedded template called `name`, or an error listing the names there are.
    pub fn named(name: &str) -> Result<Template> {
        parsed()?
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "unknown template {name:?}: choose one of {}",
                    template_names().join(", ")
                )
            })
    }

    /// This template with `options` applied; bad colours and out-of-range values are errors that
    /// name the option.
    pub fn with_options(mut self, options: &TemplateOptions) -> Result<Template> {
        for (key, value) in [
            ("accent", &options.accent_hex),
            ("bg", &options.bg_hex),
            ("bg_deep", &options.bg_deep_hex),
        ] {
            if let Some(hex) = value {
                if parse_hex(hex).is_none() {
                    bail!("bad hex colour {hex:?} for {key}_hex: expected #RRGGBB");
                }
                self.colors.insert(key.to_string(), hex.clone());
            }
        }
        if let Some(s) = options.font_scale {
            if !(0.7..=1.4).contains(&s) {
                bail!("font_scale {s} is out of range: expected 0.7 to 1.4");
            }
        }
        if let Some(m) = options.max_attrs {
            if !(1..=9).contains(&m) {
                bail!("max_attrs {m} is out of range: expected 1 to 9");
            }
        }
        self.options = options.clone();
        Ok(self)
    }

    /// Resolves a colour name (or `#RRGGBB`) of this template.
    pub fn color(&self, name: &str) -> Result<Rgb888> {
        let hex = if name.starts_with('#') {
            name
        } else {
            self.colors.get(name).map(String::as_str).unwrap_or("")
        };
        let (r, g, b) = parse_hex(hex)
            .with_context(|| format!("template {}: colour {name:?} is not defined", self.name))?;
        Ok(Rgb888::new(r, g, b))
    }

    /// Stable fingerprint of the template and its options (part of a card's content hash).
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ten_templates_parse_and_pass_their_checks() {
        for name in template_names() {
            let t = Template::named(name).unwrap();
            assert_eq!(t.name, name);
        }
        assert_eq!(template_names().len(), 10);
    }

    #[test]
    fn an_unknown_template_is_an_error_listing_the_choices() {
        let err = Template::named("glitter").unwrap_err().to_string();
        assert!(
            err.contains("unknown template") && err.contains("sovereign"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_hex_colour_is_an_error_naming_the_option() {
        let t = Template::named("sovereign").unwrap();
        let opts = TemplateOptions {
            accent_hex: Some("#12345G".into()),
            ..Default::default()
        };
        let err = t.with_options(&opts).unwrap_err().to_string();
        assert!(err.contains("accent_hex"), "{err}");
    }
}
