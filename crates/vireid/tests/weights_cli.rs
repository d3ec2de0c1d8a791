//! ImageNet weights from the command line: `vireid weights` against a local HTTP server
//! (Python's http.server on 127.0.0.1), and `vireid train`'s default start found in torch's
//! cache, or refused offline with where to put the file.

mod common;
use common::{oracle, python, s, synth};

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Caches of a user with nothing downloaded yet, in `home`.
struct Home {
    home: PathBuf,
}

impl Home {
    fn new(dir: &Path) -> Home {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Home { home }
    }
    fn torch(&self) -> PathBuf {
        self.home.join("torch/hub/checkpoints")
    }
    fn own(&self) -> PathBuf {
        self.home.join("cache/vireid/weights")
    }
    /// `vireid ARGS` in this home, downloading from `url`.
    fn vireid(&self, url: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vireid"));
        cmd.env("HOME", &self.home)
            .env("TORCH_HOME", self.home.join("torch"))
            .env("XDG_CACHE_HOME", self.home.join("cache"))
            .env("VIREID_WEIGHTS_URL", url);
        cmd
    }
}

/// Python's file server on a free port of 127.0.0.1, serving `dir`; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new(python())
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 43123 (http://127.0.0.1:43123/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
            .to_string();
        Server {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address nothing listens on.
fn refused() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/", listener.local_addr().unwrap())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fetch_keeps_only_a_verified_file() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    // Under the name of the paper's ResNet-18 file, bytes that are not it.
    std::fs::write(served.join("resnet18-5c106cde.pth"), vec![7u8; 100_000]).unwrap();
    let server = Server::start(&served);
    let home = Home::new(dir.path());
    let out = home
        .vireid(&server.url)
        .args(["weights", "fetch", "resnet18"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("resnet18-5c106cde.pth") && err.contains("sha256"),
        "{err}"
    );
    assert!(files(&home.own()).is_empty(), "{:?}", files(&home.own()));
    // A file the server does not have.
    let out = home
        .vireid(&server.url)
        .args(["weights", "fetch", "resnet34"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("404") && err.contains("resnet34-333f7ec4.pth"),
        "{err}"
    );
    assert!(files(&home.own()).is_empty());
}

#[test]
fn list_finds_torchs_cache_and_verify_checks_names() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    std::fs::create_dir_all(home.torch()).unwrap();
    let damaged = home.torch().join("resnet18-f37072fd.pth");
    std::fs::write(&damaged, b"not the weights").unwrap();
    let out = home
        .vireid(&refused())
        .args(["weights", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |file: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"] == file)
            .unwrap()
            .clone()
    };
    assert_eq!(row("resnet18-f37072fd.pth")["path"], s(&damaged));
    assert!(row("resnet50-19c8e357.pth")["path"].is_null());
    assert_eq!(row("resnet50-19c8e357.pth")["paper"], true);
    // Every file found is checked: the damaged one fails the command.
    let out = home
        .vireid(&refused())
        .args(["weights", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    // A file whose name carries its own sha256 prefix passes.
    let bytes = b"some weights";
    let prefix: String = Sha256::digest(bytes)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let good = dir.path().join(format!("net-{prefix}.pth"));
    std::fs::write(&good, bytes).unwrap();
    let out = home
        .vireid(&refused())
        .args(["weights", "verify", s(&good), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["check"]["verdict"], "verified");
}

/// A SYSU-MM01 tree and a config that leaves `pretrained` at its default (imagenet).
fn training_setup(d: &Path) -> (PathBuf, PathBuf) {
    let root = d.join("sysu");
    synth("sysu", &root, 10, 5);
    let config = d.join("c.toml");
    let text = common::SMALL_TRAINING
        .replace("pretrained = \"none\"\n", "")
        .replace("eval_every = 1", "eval_every = 0");
    assert!(!text.contains("pretrained"));
    std::fs::write(&config, text).unwrap();
    (root, config)
}

fn train(home: &Home, url: &str, root: &Path, config: &Path, out: &Path, extra: &[&str]) -> Output {
    home.vireid(url)
        .args(["train", "--dataset", "sysu", "--root", s(root)])
        .args(["--config", s(config), "--out", s(out)])
        .args(["--epochs", "1", "--threads", "2", "--device", "cpu"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn training_offline_without_the_weights_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (root, config) = training_setup(dir.path());
    let home = Home::new(dir.path());
    let url = refused();
    let out = dir.path().join("run");
    let o = train(&home, &url, &root, &config, &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    for needed in [
        "resnet18-5c106cde.pth".to_string(),
        format!("{url}resnet18-5c106cde.pth"),
        home.torch().display().to_string(),
        home.own().display().to_string(),
        "--pretrained none".to_string(),
    ] {
        assert!(err.contains(&needed), "{needed:?} not in: {err}");
    }
    assert!(!out.exists(), "a refused run left its folder");
    assert!(files(&home.own()).is_empty());
}

#[test]
fn training_starts_from_the_imagenet_weights_in_torchs_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (root, config) = training_setup(d);
    let home = Home::new(d);
    std::fs::create_dir_all(home.torch()).unwrap();
    let weights = home.torch().join("resnet18-5c106cde.pth");
    oracle(d, &["--depth", "18", "--torchvision", s(&weights)]);
    // Nothing may be downloaded: the address refuses.
    let url = refused();
    let o = train(&home, &url, &root, &config, &d.join("imagenet"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("ImageNet weights: {}", weights.display())));
    let state: Value =
        serde_json::from_slice(&std::fs::read(d.join("imagenet/state.json")).unwrap()).unwrap();
    assert_eq!(state["initial_weights"], s(&weights));
    assert_eq!(state["config"]["pretrained"], "imagenet");
    let saved = std::fs::read_to_string(d.join("imagenet/config.toml")).unwrap();
    assert!(saved.contains("pretrained = \"imagenet\""), "{saved}");
    // The same seed from random weights ends elsewhere.
    let o = train(
        &home,
        &url,
        &root,
        &config,
        &d.join("random"),
        &["--pretrained", "none"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let a = std::fs::read(d.join("imagenet/last.safetensors")).unwrap();
    let b = std::fs::read(d.join("random/last.safetensors")).unwrap();
    assert_ne!(a, b);
    let state: Value =
        serde_json::from_slice(&std::fs::read(d.join("random/state.json")).unwrap()).unwrap();
    assert!(state.get("initial_weights").is_none());
}
