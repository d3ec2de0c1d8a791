//! The test transform (docs/reference-behaviour.md, Training augmentation): to-tensor and
//! normalise, for images that are already resized. One fused pass from interleaved RGB bytes into a
//! planar float32 slot of a batch.

/// Writes `rgb` (H x W x 3 bytes) as normalised C x H x W floats into `out`, with the exact
/// arithmetic of torchvision's ToTensor then Normalize: (byte / 255 - mean) / std in f32.
pub fn to_normalized_chw(rgb: &[u8], mean: [f32; 3], std: [f32; 3], out: &mut [f32]) {
    let plane = rgb.len() / 3;
    assert_eq!(out.len(), rgb.len(), "one float per byte");
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        r[i] = (px[0] as f32 / 255.0 - mean[0]) / std[0];
        g[i] = (px[1] as f32 / 255.0 - mean[1]) / std[1];
        b[i] = (px[2] as f32 / 255.0 - mean[2]) / std[2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::{normalize, to_tensor, HwcImage};

    #[test]
    fn equals_to_tensor_then_normalize() {
        let (h, w) = (5, 4);
        let pixels: Vec<u8> = (0..h * w * 3).map(|i| (i * 37 % 256) as u8).collect();
        let mean = [0.485, 0.456, 0.406];
        let std = [0.229, 0.224, 0.225];
        let img = HwcImage {
            height: h,
            width: w,
            pixels: pixels.clone(),
        };
        let mut want = to_tensor(&img);
        normalize(&mut want, mean, std);
        let mut got = vec![0f32; pixels.len()];
        to_normalized_chw(&pixels, mean, std, &mut got);
        assert_eq!(got, want.data);
    }
}
