// Only the vireid-torch executable loads libtorch: an rpath to it, and libtorch_cuda kept in
// the link (see scripts/libtorch-link.rs). The `vireid` executable starts without it.
include!("../../scripts/libtorch-link.rs");

fn main() {
    link_libtorch(Some("vireid-torch"));
}
