//! Image input: decode JPEG/PNG/BMP to RGB and resize with Lanczos the way Pillow does.
//!
//! The reference calls `Image.resize((w, h), Image.ANTIALIAS)` (Lanczos, a = 3) on the image in
//! its stored mode and then `np.array`. `fast_image_resize`'s convolution with `Lanczos3`
//! follows Pillow's fixed-point separable filter; tests compare both on photographs.

use crate::error::{DataError, Result};
use fast_image_resize as fir;
use image::DynamicImage;
use std::path::Path;

/// A training or test image size, height by width as the re-ID papers state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Size {
    pub height: u32,
    pub width: u32,
}

impl Size {
    pub const fn new(height: u32, width: u32) -> Self {
        Self { height, width }
    }

    /// The paper's 384 x 192.
    pub const REFERENCE: Size = Size::new(384, 192);

    /// Bytes of one RGB image of this size.
    pub fn rgb_len(&self) -> usize {
        self.height as usize * self.width as usize * 3
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

/// Decodes an image file, detecting the format from its content rather than its name.
pub fn decode(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_bytes(path, &bytes)
}

/// Decodes bytes already in memory; `path` only names them in errors.
pub fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    let err = |source: image::ImageError| DataError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            message: "not a JPEG, PNG or BMP file".into(),
        });
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_has_end(bytes) {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            message: "truncated JPEG: the scan has no end-of-image marker".into(),
        });
    }
    let mut reader = reader;
    reader.limits(decode_limits());
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => DataError::Image {
            path: path.to_path_buf(),
            message: format!(
                "the image is larger than {MAX_PIXELS} pixels (Pillow's decompression-bomb \
                 limit), or its header claims so; re-ID crops are far smaller"
            ),
        },
        e => err(e),
    })
}

/// Pillow's decompression-bomb threshold (`Image.MAX_IMAGE_PIXELS`): a header may claim any
/// size, and decoding allocates what it claims.
pub const MAX_PIXELS: u64 = 89_478_485;

fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    // Four bytes a pixel covers RGBA and 16-bit grey; the decoders' own buffers come on top.
    limits.max_alloc = Some(MAX_PIXELS * 4);
    limits
}

/// Whether a JPEG's last scan is followed by an end-of-image marker.
///
/// The image crate's decoder fills a truncated scan with grey instead of failing, where Pillow
/// (the reference) raises. Entropy-coded data stuffs every 0xFF byte, so 0xFFD9 after the last
/// start-of-scan (0xFFDA) can only be the real end marker; an EXIF thumbnail's own end marker
/// comes before the main scan and does not count.
///
/// Searched from the end: in a whole file the end marker is in the last bytes, so only a
/// short tail is read (the whole file only when it is truncated). A file with no scan at all
/// passes, for the decoder to say what is wrong.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let sos_in = |b: &[u8]| b.windows(2).any(|w| w == [0xFF, 0xDA]);
    match bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]) {
        Some(eoi) => !sos_in(&bytes[eoi..]),
        None => !sos_in(bytes),
    }
}

/// A resizer with its scratch buffers; keep one per thread.
pub struct ImageResizer {
    inner: fir::Resizer,
    options: fir::ResizeOptions,
    grey: Vec<u8>,
}

impl Default for ImageResizer {
    fn default() -> Self {
        Self::new()
    }
}

impl ImageResizer {
    pub fn new() -> Self {
        Self {
            inner: fir::Resizer::new(),
            options: fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3)),
            grey: Vec::new(),
        }
    }

    /// Resizes `img` to `size` into `out` (RGB, row-major, `size.rgb_len()` bytes).
    ///
    /// Single-channel images are resized as one channel and then copied to three, which is
    /// what Pillow computes for an `L` image and a third of the work.
    pub fn resize_into(
        &mut self,
        img: &DynamicImage,
        size: Size,
        out: &mut [u8],
        path: &Path,
    ) -> Result<()> {
        assert_eq!(out.len(), size.rgb_len(), "output buffer of the wrong size");
        let fail = |message: String| DataError::Image {
            path: path.to_path_buf(),
            message,
        };
        if img.width() == 0 || img.height() == 0 {
            return Err(fail("image has no pixels".into()));
        }
        match img {
            DynamicImage::ImageLuma8(grey) => {
                let n = size.height as usize * size.width as usize;
                let mut plane = std::mem::take(&mut self.grey);
                plane.resize(n, 0);
                let (w, h) = grey.dimensions();
                let resized =
                    self.resize_raw(grey.as_raw(), (w, h), size, &mut plane, fir::PixelType::U8);
                self.grey = plane;
                resized.map_err(fail)?;
                for (px, &g) in out.chunks_exact_mut(3).zip(&self.grey) {
                    px.fill(g);
                }
            }
            _ => {
                let owned;
                let rgb = match img {
                    DynamicImage::ImageRgb8(rgb) => rgb,
                    other => {
                        owned = other.to_rgb8();
                        &owned
                    }
                };
                let (w, h) = rgb.dimensions();
                self.resize_raw(rgb.as_raw(), (w, h), size, out, fir::PixelType::U8x3)
                    .map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Resizes raw pixels of `pixel_type` from (width, height) to `size`; a copy when the
    /// sizes are equal (Pillow returns a copy then too).
    fn resize_raw(
        &mut self,
        src: &[u8],
        (width, height): (u32, u32),
        size: Size,
        dst: &mut [u8],
        pixel_type: fir::PixelType,
    ) -> std::result::Result<(), String> {
        if (width, height) == (size.width, size.height) {
            dst.copy_from_slice(src);
            return Ok(());
        }
        let src = fir::images::ImageRef::new(width, height, src, pixel_type)
            .map_err(|e| e.to_string())?;
        let mut dst = fir::images::Image::from_slice_u8(size.width, size.height, dst, pixel_type)
            .map_err(|e| e.to_string())?;
        self.inner
            .resize(&src, &mut dst, &self.options)
            .map_err(|e| e.to_string())
    }

    /// Decodes `path` and resizes it into `out`.
    pub fn load_into(&mut self, path: &Path, size: Size, out: &mut [u8]) -> Result<()> {
        let img = decode(path)?;
        self.resize_into(&img, size, out, path)
    }
}

/// Decodes and resizes one image into a new buffer (RGB, `size.rgb_len()` bytes).
pub fn load_resized(path: &Path, size: Size) -> Result<Vec<u8>> {
    let mut out = vec![0u8; size.rgb_len()];
    ImageResizer::new().load_into(path, size, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::jpeg_has_end;

    #[test]
    fn end_marker_must_follow_the_last_scan() {
        let (soi, sos, eoi) = ([0xFF, 0xD8], [0xFF, 0xDA], [0xFF, 0xD9]);
        let file = |parts: &[&[u8]]| parts.concat();
        assert!(jpeg_has_end(&file(&[&soi, &sos, &[1, 2, 3], &eoi])));
        assert!(jpeg_has_end(&file(&[&soi, &sos, &[1, 2], &eoi, &[0, 0]]))); // trailing bytes
        assert!(!jpeg_has_end(&file(&[&soi, &sos, &[1, 2, 3]]))); // truncated scan
                                                                  // A thumbnail's end marker before the main scan does not end the file.
        assert!(!jpeg_has_end(&file(&[
            &soi,
            &sos,
            &[7],
            &eoi,
            &sos,
            &[1, 2]
        ])));
        assert!(jpeg_has_end(&file(&[&soi, &[9, 9]]))); // no scan: the decoder decides
    }
}
