//! Printing: ZPL for thermal label printers, PDF through WeasyPrint, and
//! IPP jobs to CUPS recorded in `print_jobs`.

pub mod ipp;
pub mod pdf;
pub mod zpl;
