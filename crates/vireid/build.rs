// The `vireid` binary and its tests load libtorch: an rpath to it, and libtorch_cuda kept in
// the link (see scripts/libtorch-link.rs).
include!("../../scripts/libtorch-link.rs");

fn main() {
    link_libtorch();
}
