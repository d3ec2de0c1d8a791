//! What every picture vireid draws shares: the font (DejaVu Sans compiled into the binary,
//! so a picture looks the same on a machine without fonts) and PNG output written atomically.

use image::ImageEncoder;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

/// The family name the embedded face is registered under.
pub const FONT: &str = "sans-serif";

/// Registers the embedded face (once per process); call before drawing text.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded face is a valid TrueType file; a failure here would be a broken crate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Encodes an RGB buffer of `w` x `h` as a PNG written atomically at `path`.
pub fn write_png(pixels: &[u8], (w, h): (u32, u32), path: &Path) -> std::io::Result<()> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(pixels, w, h, image::ExtendedColorType::Rgb8)
        .map_err(std::io::Error::other)?;
    vireid_data::atomic::write_atomic(path, &png)
}
