//! oneDNN's fused CPU convolutions: convolution + bias + ReLU, and convolution + bias + a
//! residual added + ReLU, each one kernel that writes its output once. ONNX Runtime fuses the
//! same way, and the separate ReLU and add passes cost an inference a tenth of its time.
//! libtorch registers these as the `mkldnn::_convolution_pointwise` operators, which tch does
//! not bind; libtorch also exports them as plain C functions for its ahead-of-time compiled
//! models (`torch/csrc/inductor/aoti_torch/c/shim_cpu.h`), whose tensor handles are the same
//! `at::Tensor` pointers tch's are. Those are what this module calls.

use std::ffi::{c_char, CStr};
use std::ptr;
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

type Handle = *mut C_tensor;

extern "C" {
    fn aoti_torch_cpu_mkldnn__convolution_pointwise(
        x: Handle,
        w: Handle,
        b: *mut Handle,
        padding: *const i64,
        padding_len: i64,
        stride: *const i64,
        stride_len: i64,
        dilation: *const i64,
        dilation_len: i64,
        groups: i64,
        attr: *const c_char,
        scalars: *const *const f64,
        scalars_len: i64,
        algorithm: *const *const c_char,
        out: *mut Handle,
    ) -> i32;

    fn aoti_torch_cpu_mkldnn__convolution_pointwise_binary(
        x: Handle,
        other: Handle,
        w: Handle,
        b: *mut Handle,
        padding: *const i64,
        padding_len: i64,
        stride: *const i64,
        stride_len: i64,
        dilation: *const i64,
        dilation_len: i64,
        groups: i64,
        binary_attr: *const c_char,
        alpha: *mut f64,
        unary_attr: *const *const c_char,
        unary_scalars: *const *const f64,
        unary_scalars_len: i64,
        unary_algorithm: *const *const c_char,
        out: *mut Handle,
    ) -> i32;
}

const RELU: &CStr = c"relu";
const NONE: &CStr = c"none";
const ADD: &CStr = c"add";

fn handle(t: &Tensor) -> Handle {
    t.as_ptr() as Handle
}

/// The tensor a call made, when it succeeded.
fn made(code: i32, out: Handle) -> Option<Tensor> {
    // SAFETY: on success libtorch wrote a new at::Tensor into `out`, which the returned
    // Tensor now owns (and frees).
    (code == 0 && !out.is_null()).then(|| unsafe { Tensor::from_ptr(out) })
}

/// A convolution's stride and padding (square, dilation 1, one group, as in a ResNet).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub stride: i64,
    pub padding: i64,
}

/// conv(x, w) + b, then ReLU when `relu`. None when libtorch refused (no oneDNN in this
/// build, a tensor off the CPU): the caller computes it unfused.
pub fn conv(x: &Tensor, w: &Tensor, b: &Tensor, at: Window, relu: bool) -> Option<Tensor> {
    let (stride, padding, dilation) = ([at.stride; 2], [at.padding; 2], [1i64; 2]);
    let mut bias = handle(b);
    let mut out: Handle = ptr::null_mut();
    let attr = if relu { RELU } else { NONE };
    // SAFETY: every handle is a live at::Tensor borrowed for the call; the arrays outlive it.
    let code = unsafe {
        aoti_torch_cpu_mkldnn__convolution_pointwise(
            handle(x),
            handle(w),
            &mut bias,
            padding.as_ptr(),
            2,
            stride.as_ptr(),
            2,
            dilation.as_ptr(),
            2,
            1,
            attr.as_ptr(),
            ptr::null(),
            0,
            ptr::null(),
            &mut out,
        )
    };
    made(code, out)
}

/// ReLU(conv(x, w) + b + residual): a residual unit's last convolution, its shortcut and the
/// ReLU after them in one kernel. None when libtorch refused, as [`conv`].
pub fn conv_add_relu(
    x: &Tensor,
    residual: &Tensor,
    w: &Tensor,
    b: &Tensor,
    at: Window,
) -> Option<Tensor> {
    let (stride, padding, dilation) = ([at.stride; 2], [at.padding; 2], [1i64; 2]);
    let mut bias = handle(b);
    let mut out: Handle = ptr::null_mut();
    let relu = RELU.as_ptr();
    // SAFETY: as in `conv`.
    let code = unsafe {
        aoti_torch_cpu_mkldnn__convolution_pointwise_binary(
            handle(x),
            handle(residual),
            handle(w),
            &mut bias,
            padding.as_ptr(),
            2,
            stride.as_ptr(),
            2,
            dilation.as_ptr(),
            2,
            1,
            ADD.as_ptr(),
            ptr::null_mut(),
            &relu,
            ptr::null(),
            0,
            ptr::null(),
            &mut out,
        )
    };
    made(code, out)
}

/// Whether this libtorch runs both fused forms for tensors like `like` (its device and
/// layout), checked once on a small case against the unfused operations.
pub fn available(like: &Tensor) -> bool {
    if like.device() != Device::Cpu || like.kind() != Kind::Float {
        return false;
    }
    tch::no_grad(|| {
        // Fixed values, not random draws: the probe must not move the random stream.
        let values = |shape: &[i64], phase: f64| {
            let n: i64 = shape.iter().product();
            let t = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.7 + phase).sin();
            crate::network::nhwc(&t.view(shape))
        };
        let (x, w, r) = (
            values(&[1, 8, 5, 5], 0.0),
            values(&[8, 8, 3, 3], 1.0),
            values(&[1, 8, 5, 5], 2.0),
        );
        let b = values(&[8], 3.0);
        let at = Window {
            stride: 1,
            padding: 1,
        };
        let plain = x.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1);
        let close = |a: &Tensor, b: &Tensor| a.allclose(b, 1e-4, 1e-4, false);
        let one = conv(&x, &w, &b, at, true).is_some_and(|t| close(&t, &plain.relu()));
        let two =
            conv_add_relu(&x, &r, &w, &b, at).is_some_and(|t| close(&t, &(&plain + &r).relu()));
        one && two
    })
}
