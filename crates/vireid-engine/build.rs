// Makes every binary and test of this crate find libtorch at run time, and keeps libtorch_cuda
// linked when the libtorch in use has it (see scripts/libtorch-link.rs for why).
include!("../../scripts/libtorch-link.rs");

fn main() {
    link_libtorch(None);
}
