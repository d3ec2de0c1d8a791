//! Downloads against a server on 127.0.0.1: only a verified, whole file ever lands in the
//! cache, and each failure says what happened.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use vireid_hub::{Hub, HubError, KnownWeights, Places, Verdict};

/// Bytes standing in for a weights file: over one download chunk, so the copy loops.
fn payload() -> Vec<u8> {
    (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file name carrying the first 8 hex digits of `bytes`' sha256, torchvision's way.
fn named(stem: &str, bytes: &[u8]) -> String {
    format!("{stem}-{}.pth", &sha256_hex(bytes)[..8])
}

/// How the server answers a path.
#[derive(Clone)]
enum Answer {
    Whole(Vec<u8>),
    /// Announces the whole length, sends half, hangs up.
    Half(Vec<u8>),
}

/// Serves `routes` (path -> answer; anything else 404) on 127.0.0.1 until the test ends.
fn serve(routes: Vec<(String, Answer)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let routes = routes.clone();
            std::thread::spawn(move || answer(stream, &routes));
        }
    });
    format!("http://{addr}/models/")
}

fn answer(mut stream: TcpStream, routes: &[(String, Answer)]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() <= 2 {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
    let found = routes
        .iter()
        .find(|(p, _)| format!("/models/{p}") == path)
        .map(|(_, a)| a);
    let (body, len): (&[u8], usize) = match found {
        Some(Answer::Whole(b)) => (b, b.len()),
        Some(Answer::Half(b)) => (&b[..b.len() / 2], b.len()),
        None => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
            return;
        }
    };
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// An address nothing listens on.
fn refused() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/models/")
}

fn hub(dir: &Path, base_url: String, catalog: Vec<KnownWeights>) -> Hub {
    Hub {
        places: Places {
            torch: Some(dir.join("torch")),
            own: Some(dir.join("own")),
        },
        base_url,
        catalog,
    }
}

fn weights(backbone: &str, file: &str, paper: bool) -> KnownWeights {
    KnownWeights {
        backbone: backbone.into(),
        file: file.into(),
        paper,
        about: String::new(),
    }
}

/// The files in a folder (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_good_download_lands_whole_and_verified() {
    let bytes = payload();
    let file = named("resnet18", &bytes);
    let url = serve(vec![(file.clone(), Answer::Whole(bytes.clone()))]);
    let d = tempfile::tempdir().unwrap();
    let hub = hub(d.path(), url, vec![weights("resnet18", &file, true)]);
    let (mut total, mut got) = (None, 0u64);
    let path = hub
        .fetch(&hub.catalog[0], &mut |n, t| {
            got += n;
            total = total.or(t);
        })
        .unwrap();
    assert_eq!(path, d.path().join("own").join(&file));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!((total, got), (Some(bytes.len() as u64), bytes.len() as u64));
    assert_eq!(
        files(&d.path().join("own")),
        vec![path.clone()],
        "no temporary left"
    );
    assert!(matches!(
        vireid_hub::verify_name(&path).unwrap(),
        Verdict::Verified { .. }
    ));
}

#[test]
fn a_truncated_download_leaves_nothing() {
    let bytes = payload();
    let file = named("resnet18", &bytes);
    let url = serve(vec![(file.clone(), Answer::Half(bytes))]);
    let d = tempfile::tempdir().unwrap();
    let hub = hub(d.path(), url, vec![weights("resnet18", &file, true)]);
    let err = hub.fetch(&hub.catalog[0], &mut |_, _| {}).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HubError::Download { .. }), "{text}");
    assert!(text.contains(&file), "{text}");
    assert!(files(&d.path().join("own")).is_empty());
}

#[test]
fn a_download_with_the_wrong_hash_leaves_nothing() {
    let bytes = payload();
    let file = named("resnet18", b"the bytes the name promises");
    let url = serve(vec![(file.clone(), Answer::Whole(bytes.clone()))]);
    let d = tempfile::tempdir().unwrap();
    let hub = hub(d.path(), url, vec![weights("resnet18", &file, true)]);
    match hub.fetch(&hub.catalog[0], &mut |_, _| {}) {
        Err(HubError::HashMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected, hub.catalog[0].hash_prefix());
            assert_eq!(found, sha256_hex(&bytes));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(files(&d.path().join("own")).is_empty());
}

#[test]
fn a_missing_file_and_a_refused_connection_say_so() {
    let file = named("resnet18", b"x");
    let d = tempfile::tempdir().unwrap();
    let h = hub(
        d.path(),
        serve(vec![]),
        vec![weights("resnet18", &file, true)],
    );
    let err = h
        .fetch(&h.catalog[0], &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
    let h = hub(d.path(), refused(), vec![weights("resnet18", &file, true)]);
    let err = h.fetch(&h.catalog[0], &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, HubError::Download { .. }), "{err}");
    assert!(files(&d.path().join("own")).is_empty());
}

#[test]
fn imagenet_prefers_what_is_here_torchs_cache_first_and_the_papers_file() {
    let d = tempfile::tempdir().unwrap();
    let paper = named("resnet50", b"paper");
    let today = named("resnet50", b"today");
    let h = hub(
        d.path(),
        refused(),
        vec![
            weights("resnet50", &today, false),
            weights("resnet50", &paper, true),
        ],
    );
    let (torch, own) = (d.path().join("torch"), d.path().join("own"));
    std::fs::create_dir_all(&torch).unwrap();
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join(&today), b"today").unwrap();
    let found = h.imagenet("resnet50", &mut |_, _| {}).unwrap();
    assert_eq!((found.path, found.downloaded), (own.join(&today), false));
    std::fs::write(own.join(&paper), b"paper").unwrap();
    assert_eq!(
        h.imagenet("resnet50", &mut |_, _| {}).unwrap().path,
        own.join(&paper)
    );
    std::fs::write(torch.join(&paper), b"paper").unwrap();
    assert_eq!(
        h.imagenet("resnet50", &mut |_, _| {}).unwrap().path,
        torch.join(&paper)
    );
}

#[test]
fn imagenet_downloads_the_papers_file_once() {
    let bytes = payload();
    let paper = named("resnet34", &bytes);
    let url = serve(vec![(paper.clone(), Answer::Whole(bytes))]);
    let d = tempfile::tempdir().unwrap();
    let h = hub(
        d.path(),
        url,
        vec![
            weights("resnet34", &named("resnet34", b"other"), false),
            weights("resnet34", &paper, true),
        ],
    );
    let first = h.imagenet("resnet34", &mut |_, _| {}).unwrap();
    assert!(first.downloaded);
    assert_eq!(first.path, d.path().join("own").join(&paper));
    let again = h.imagenet("resnet34", &mut |_, _| {}).unwrap();
    assert_eq!((again.path, again.downloaded), (first.path, false));
}

#[test]
fn offline_the_error_names_the_file_its_address_and_where_to_put_it() {
    let d = tempfile::tempdir().unwrap();
    let paper = named("resnet50", b"paper");
    let base = refused();
    let h = hub(
        d.path(),
        base.clone(),
        vec![weights("resnet50", &paper, true)],
    );
    let err = h
        .imagenet("resnet50", &mut |_, _| {})
        .unwrap_err()
        .to_string();
    for needed in [
        paper.clone(),
        format!("{base}{paper}"),
        d.path().join("torch").display().to_string(),
        d.path().join("own").display().to_string(),
        "--pretrained none".to_string(),
    ] {
        assert!(err.contains(&needed), "{needed:?} not in: {err}");
    }
}

#[test]
fn verify_tells_a_match_a_mismatch_and_a_name_without_hash() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join(named("net", b"abc"));
    std::fs::write(&good, b"abc").unwrap();
    let bad = d.path().join(named("net", b"abd"));
    std::fs::write(&bad, b"abc").unwrap();
    let plain = d.path().join("net.pth");
    std::fs::write(&plain, b"abc").unwrap();
    let sha = sha256_hex(b"abc");
    // The well-known sha256 of "abc" (FIPS 180-2's example), independent of this code.
    assert!(sha.starts_with("ba7816bf8f01cfea"));
    assert_eq!(
        vireid_hub::verify_name(&good).unwrap(),
        Verdict::Verified {
            sha256: sha.clone()
        }
    );
    assert!(matches!(
        vireid_hub::verify_name(&bad).unwrap(),
        Verdict::Mismatch { .. }
    ));
    assert_eq!(
        vireid_hub::verify_name(&plain).unwrap(),
        Verdict::NoHashInName { sha256: sha }
    );
}
