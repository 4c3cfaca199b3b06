//! The tenant file's pick stations: their printers and the boxes they pack into.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    pub id: String,
    pub name: String,
    #[serde(default = "default_paper")]
    pub paper: String,
}

fn default_paper() -> String {
    "letter".into()
}

/// What a printer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrinterKind {
    /// Thermal label printer fed raw ZPL.
    Zpl,
    /// Page printer fed PDF (packing slips).
    Pdf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Printer {
    pub name: String,
    pub uri: String,
    pub kind: PrinterKind,
    pub station: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxDef {
    pub id: String,
    pub name: String,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
    pub tare_g: u32,
    pub max_weight_g: Option<u32>,
}
