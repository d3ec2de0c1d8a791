//! The folders come from the environment as torch and the XDG conventions say (alone in
//! this test binary: it sets variables).

use std::path::PathBuf;
use vireid_hub::Places;

#[test]
fn torch_home_then_xdg_cache_home_then_home() {
    std::env::set_var("XDG_CACHE_HOME", "/x/cache");
    std::env::set_var("TORCH_HOME", "/t/torch");
    let p = Places::from_env();
    assert_eq!(p.torch, Some(PathBuf::from("/t/torch/hub/checkpoints")));
    assert_eq!(p.own, Some(PathBuf::from("/x/cache/vireid/weights")));
    std::env::remove_var("TORCH_HOME");
    let p = Places::from_env();
    assert_eq!(
        p.torch,
        Some(PathBuf::from("/x/cache/torch/hub/checkpoints"))
    );
    let order: Vec<_> = p.search_order().collect();
    assert_eq!(
        order,
        [p.torch.as_deref().unwrap(), p.own.as_deref().unwrap()]
    );
    std::env::remove_var("XDG_CACHE_HOME");
    std::env::set_var("HOME", "/h");
    let p = Places::from_env();
    assert_eq!(
        p.torch,
        Some(PathBuf::from("/h/.cache/torch/hub/checkpoints"))
    );
    #[cfg(target_os = "linux")]
    assert_eq!(p.own, Some(PathBuf::from("/h/.cache/vireid/weights")));
}
