// Only the vireid-torch executable loads libtorch: an rpath to it, libtorch_cuda left to be
// loaded at start where a driver is (see scripts/libtorch-link.rs). The `vireid` executable
// starts without libtorch.
include!("../../scripts/libtorch-link.rs");

fn main() {
    link_libtorch(Some("vireid-torch"));
}
