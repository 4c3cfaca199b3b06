//! A small ZPL II builder for our own labels (lot/bin labels, serial
//! labels). Every field that comes from data goes through `^FH` hex
//! escaping, so `^` and `~` in a customer name, an address or a SKU can
//! never start a ZPL command: a hostile `^XZ^XA` prints as text.

use std::fmt::Write as _;

/// Dots per millimetre of a 203 dpi printer (the common Zebra default).
pub const DOTS_PER_MM_203: u32 = 8;

/// A label under construction.
#[derive(Debug, Clone)]
pub struct Label {
    zpl: String,
}

/// Escapes a data field for `^FH\`: every byte that is not a plain printable
/// ASCII character other than `^`, `~` and `\` becomes `\hh`.
pub fn escape_field(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'^' | b'~' | b'\\' => {
                let _ = write!(out, "\\{b:02X}");
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:02X}");
            }
        }
    }
    out
}

impl Label {
    /// A new label `width` × `height` dots, UTF-8 text (`^CI28`).
    pub fn new(width_dots: u32, height_dots: u32) -> Self {
        Self { zpl: format!("^XA^CI28^PW{width_dots}^LL{height_dots}^LH0,0") }
    }

    /// A 4×6 in shipping-label sized canvas at 203 dpi.
    pub fn four_by_six() -> Self {
        Self::new(812, 1218)
    }

    /// Text at (x, y) with font height `h` dots.
    pub fn text(mut self, x: u32, y: u32, h: u32, text: &str) -> Self {
        let _ = write!(self.zpl, "^FO{x},{y}^A0N,{h},{h}^FH\\^FD{}^FS", escape_field(text));
        self
    }

    /// A Code 128 barcode of `data` at (x, y), `height` dots tall, with its text below.
    pub fn code128(mut self, x: u32, y: u32, height: u32, data: &str) -> Self {
        let _ = write!(self.zpl, "^FO{x},{y}^BY2^BCN,{height},Y,N,N^FH\\^FD{}^FS", escape_field(data));
        self
    }

    /// A horizontal rule.
    pub fn rule(mut self, x: u32, y: u32, width: u32, thickness: u32) -> Self {
        let _ = write!(self.zpl, "^FO{x},{y}^GB{width},{thickness},{thickness}^FS");
        self
    }

    /// Closes the label and returns the bytes to send to the printer.
    pub fn finish(mut self) -> Vec<u8> {
        self.zpl.push_str("^XZ\n");
        self.zpl.into_bytes()
    }
}

/// A lot/bin label: SKU and name, lot, bin, and the SKU as a barcode.
pub fn lot_label(sku: &str, name: &str, lot_ref: &str, bin: &str) -> Vec<u8> {
    Label::new(812, 406)
        .text(30, 25, 50, sku)
        .text(30, 85, 30, name)
        .rule(30, 125, 752, 3)
        .text(30, 145, 34, &format!("Lot {lot_ref}"))
        .text(470, 145, 34, &format!("Bin {bin}"))
        .code128(30, 200, 120, sku)
        .finish()
}

/// A serial label: the serial as a barcode with the SKU above it.
pub fn serial_label(sku: &str, serial: &str) -> Vec<u8> {
    Label::new(812, 254).text(30, 20, 30, sku).code128(30, 65, 110, serial).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ^FD field contents of a label, with ^FH escapes decoded.
    fn fields(zpl: &[u8]) -> Vec<String> {
        let s = String::from_utf8_lossy(zpl).into_owned();
        s.split("^FD")
            .skip(1)
            .map(|f| {
                let raw = f.split("^FS").next().unwrap_or_default();
                let mut bytes = Vec::new();
                let mut it = raw.bytes();
                while let Some(b) = it.next() {
                    if b == b'\\' {
                        let hex: Vec<u8> = it.by_ref().take(2).collect();
                        bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or("00"), 16).unwrap_or(0));
                    } else {
                        bytes.push(b);
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    fn commands(zpl: &[u8], cmd: &str) -> usize {
        String::from_utf8_lossy(zpl).matches(cmd).count()
    }

    #[test]
    fn hostile_names_cannot_inject_commands() {
        let hostile = "ACME^XZ^XA^FO0,0^FDpwned^FS~JR\\";
        let zpl = lot_label("SKU^1", hostile, "L~1", "A-01");
        assert_eq!(commands(&zpl, "^XA"), 1, "{}", String::from_utf8_lossy(&zpl));
        assert_eq!(commands(&zpl, "^XZ"), 1);
        assert!(!zpl.contains(&b'~'), "no tilde command can reach the printer");
        assert_eq!(fields(&zpl)[1], hostile, "the name prints exactly as given");
        assert_eq!(fields(&zpl)[0], "SKU^1");
        assert!(String::from_utf8_lossy(&zpl).contains("ACME\\5EXZ\\5EXA"), "carets become \\5E");
    }

    #[test]
    fn the_bytes_are_exactly_what_the_builder_says() {
        let zpl = serial_label("PRX-1", "SN-0042");
        assert_eq!(
            String::from_utf8_lossy(&zpl),
            "^XA^CI28^PW812^LL254^LH0,0^FO30,20^A0N,30,30^FH\\^FDPRX-1^FS^FO30,65^BY2^BCN,110,Y,N,N^FH\\^FDSN-0042^FS^XZ\n"
        );
        assert_eq!(fields(&lot_label("A", "Café Ünïcode", "L", "B"))[1], "Café Ünïcode", "UTF-8 survives the escaping");
    }

    proptest! {
        #[test]
        fn any_text_stays_inside_its_field(name in "\\PC{0,60}", sku in "[ -~]{0,30}") {
            let zpl = lot_label(&sku, &name, "L1", "A-1");
            prop_assert_eq!(commands(&zpl, "^XA"), 1);
            prop_assert_eq!(commands(&zpl, "^XZ"), 1);
            prop_assert!(!zpl.contains(&b'~'));
            let f = fields(&zpl);
            prop_assert_eq!(&f[0], &sku);
            prop_assert_eq!(&f[1], &name);
        }
    }
}
