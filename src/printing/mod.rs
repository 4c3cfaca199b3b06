//! Printing: ZPL for thermal label printers (and, with the fulfilment
//! issue, IPP jobs to CUPS).

pub mod ipp;
pub mod zpl;
