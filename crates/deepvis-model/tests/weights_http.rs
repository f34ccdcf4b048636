//! Download tests against a loopback HTTP/1.1 server (no internet needed).

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use deepvis_model::Model;
use deepvis_weights::{
    ExpectedSha256, KnownFile, WeightFormat, WeightsError, download_verified, fetch_destination,
    fetch_from_url, sha256_file,
};

const NET_SHA256: &str = "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261";
const NET_SIZE: usize = 675_763;

/// What the server answers on one path.
#[derive(Clone)]
enum Reply {
    /// 200 with the whole body.
    Body(Vec<u8>),
    /// 200 announcing the whole body's length, then only `sent` bytes and close.
    Truncated(Vec<u8>, usize),
    /// 302 to another path on the same server.
    Redirect(&'static str),
}

/// Starts a server on 127.0.0.1 answering `routes` (404 elsewhere); returns its
/// base URL `http://127.0.0.1:PORT`. The thread lives until the test process ends.
fn serve(routes: Vec<(&'static str, Reply)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let routes: Arc<HashMap<&'static str, Reply>> = Arc::new(routes.into_iter().collect());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let routes = Arc::clone(&routes);
            thread::spawn(move || handle(stream, &routes));
        }
    });
    format!("http://{addr}")
}

fn handle(mut stream: TcpStream, routes: &HashMap<&'static str, Reply>) {
    // Read the request head (no body for GET).
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let _ = match routes.get(path.as_str()) {
        Some(Reply::Body(body)) => write_response(&mut stream, "200 OK", body.len(), body, ""),
        Some(Reply::Truncated(body, sent)) => {
            write_response(&mut stream, "200 OK", body.len(), &body[..*sent], "")
        }
        Some(Reply::Redirect(to)) => write_response(
            &mut stream,
            "302 Found",
            0,
            b"",
            &format!("Location: {to}\r\n"),
        ),
        None => write_response(&mut stream, "404 Not Found", 9, b"not found", ""),
    };
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn write_response(
    stream: &mut TcpStream,
    status: &str,
    content_length: usize,
    body: &[u8],
    extra_headers: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {content_length}\r\n{extra_headers}Connection: close\r\n\r\n"
    )?;
    stream.write_all(body)
}

/// The real `compressed_SqueezeNet.net` from the shared data folder.
fn real_net() -> Vec<u8> {
    let path = deepvis_testdata::shared_file("weights/squeezenet1_0/compressed_SqueezeNet.net");
    let bytes = fs::read(&path).unwrap();
    assert_eq!(
        bytes.len(),
        NET_SIZE,
        "unexpected size of {}",
        path.display()
    );
    bytes
}

fn corrupted(mut bytes: Vec<u8>) -> Vec<u8> {
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    bytes
}

/// Every entry under `dir`, recursively (files and folders).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(entries(&path));
        }
        out.push(path);
    }
    out
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    entries(dir).into_iter().filter(|p| p.is_file()).collect()
}

/// Fetches SqueezeNet's file from `url` into a fresh cache: the cache and what the fetch said.
fn fetch_fresh(url: &str) -> (tempfile::TempDir, Result<PathBuf, WeightsError>) {
    let cache = tempfile::tempdir().unwrap();
    let r = fetch_from_url(Model::SqueezeNet1_0.spec(), url, cache.path(), |_, _| {});
    (cache, r)
}

/// A URL on which nothing listens.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/nothing")
}

#[test]
fn good_download_lands_verified_with_progress() {
    let net = real_net();
    let base = serve(vec![("/good", Reply::Body(net.clone()))]);
    let cache = tempfile::tempdir().unwrap();

    let mut calls: Vec<(u64, Option<u64>)> = Vec::new();
    let path = fetch_from_url(
        Model::SqueezeNet1_0.spec(),
        &format!("{base}/good"),
        cache.path(),
        |done, total| calls.push((done, total)),
    )
    .unwrap();

    assert_eq!(
        path,
        fetch_destination(Model::SqueezeNet1_0.spec(), cache.path())
    );
    assert_eq!(
        path,
        cache.path().join("squeezenet1_0/compressed_SqueezeNet.net")
    );
    let digest = sha256_file(&path).unwrap();
    assert_eq!(digest.sha256, NET_SHA256);
    assert_eq!(digest.size, NET_SIZE as u64);
    assert_eq!(fs::read(&path).unwrap(), net);
    assert_eq!(
        files(cache.path()),
        vec![path.clone()],
        "only the final file"
    );

    assert!(calls.len() > 1, "progress called per chunk: {calls:?}");
    assert!(
        calls.windows(2).all(|w| w[0].0 < w[1].0),
        "progress counts increase: {calls:?}"
    );
    assert!(calls.iter().all(|c| c.1 == Some(NET_SIZE as u64)));
    assert_eq!(calls.last().map(|c| c.0), Some(NET_SIZE as u64));

    // Already there and valid: no download at all (the URL is dead).
    let again = fetch_from_url(
        Model::SqueezeNet1_0.spec(),
        &dead_url(),
        cache.path(),
        |_, _| panic!("no download expected"),
    )
    .unwrap();
    assert_eq!(again, path);
}

#[test]
fn corrupted_download_rejected_and_nothing_left() {
    let base = serve(vec![("/bad", Reply::Body(corrupted(real_net())))]);
    let (cache, err) = fetch_fresh(&format!("{base}/bad"));
    let err = err.unwrap_err();
    match &err {
        WeightsError::HashMismatch {
            what,
            expected,
            found,
        } => {
            assert!(what.contains("/bad"), "{err}");
            assert_eq!(*expected, ExpectedSha256::Full(NET_SHA256));
            assert_ne!(found, NET_SHA256);
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(NET_SHA256) && msg.contains("sha256"), "{msg}");
    assert_eq!(
        entries(cache.path()),
        Vec::<PathBuf>::new(),
        "cache not empty"
    );
}

#[test]
fn truncated_download_rejected_and_nothing_left() {
    let net = real_net();
    let base = serve(vec![("/short", Reply::Truncated(net, NET_SIZE / 2))]);
    let (cache, err) = fetch_fresh(&format!("{base}/short"));
    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::Download { .. } | WeightsError::SizeMismatch { .. }
        ),
        "expected a failed download, got {err:?}"
    );
    assert!(err.to_string().contains("/short"), "{err}");
    assert_eq!(
        entries(cache.path()),
        Vec::<PathBuf>::new(),
        "cache not empty"
    );
}

#[test]
fn wrong_size_rejected_before_download() {
    let base = serve(vec![("/small", Reply::Body(b"hello".to_vec()))]);
    let (cache, err) = fetch_fresh(&format!("{base}/small"));
    let err = err.unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::SizeMismatch {
                expected: 675_763,
                found: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(entries(cache.path()), Vec::<PathBuf>::new());
}

#[test]
fn http_errors_leave_nothing() {
    let base = serve(vec![]);
    let (cache, err) = fetch_fresh(&format!("{base}/missing"));
    let err = err.unwrap_err();
    assert!(matches!(err, WeightsError::Http { .. }), "{err:?}");
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(entries(cache.path()), Vec::<PathBuf>::new());

    let err = fetch_from_url(
        Model::SqueezeNet1_0.spec(),
        &dead_url(),
        cache.path(),
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, WeightsError::Http { .. }), "{err:?}");
    assert_eq!(entries(cache.path()), Vec::<PathBuf>::new());
}

#[test]
fn redirects_are_followed() {
    let base = serve(vec![
        ("/old", Reply::Redirect("/new")),
        ("/new", Reply::Body(real_net())),
    ]);
    let (_cache, path) = fetch_fresh(&format!("{base}/old"));
    let path = path.unwrap();
    assert_eq!(sha256_file(&path).unwrap().sha256, NET_SHA256);
}

#[test]
fn unverified_existing_file_is_replaced_or_removed() {
    let net = real_net();
    let base = serve(vec![
        ("/good", Reply::Body(net.clone())),
        ("/bad", Reply::Body(corrupted(net.clone()))),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let dest = fetch_destination(Model::SqueezeNet1_0.spec(), cache.path());
    fs::create_dir_all(dest.parent().unwrap()).unwrap();

    // A bad copy in place, and the download fails too: nothing is left.
    fs::write(&dest, corrupted(net.clone())).unwrap();
    let err = fetch_from_url(
        Model::SqueezeNet1_0.spec(),
        &format!("{base}/bad"),
        cache.path(),
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, WeightsError::HashMismatch { .. }), "{err:?}");
    assert_eq!(files(cache.path()), Vec::<PathBuf>::new());

    // A bad copy in place, and the download succeeds: it is replaced.
    fs::write(&dest, b"garbage").unwrap();
    let path = fetch_from_url(
        Model::SqueezeNet1_0.spec(),
        &format!("{base}/good"),
        cache.path(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(fs::read(&path).unwrap(), net);
    assert_eq!(files(cache.path()), vec![dest]);
}

#[test]
fn prefix_checks_on_download() {
    let net = real_net();
    let base = serve(vec![("/f", Reply::Body(net.clone()))]);
    let cache = tempfile::tempdir().unwrap();
    let mut file = KnownFile {
        file_name: "f.bin",
        format: WeightFormat::DeepCompressionNet,
        size: None,
        sha256: Some(ExpectedSha256::Prefix("e4ab6960")),
    };
    let path = download_verified(&file, &format!("{base}/f"), cache.path(), |_, _| {}).unwrap();
    assert_eq!(fs::read(&path).unwrap(), net);

    file.file_name = "g.bin";
    file.sha256 = Some(ExpectedSha256::Prefix("7be5be79"));
    let err = download_verified(&file, &format!("{base}/f"), cache.path(), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("7be5be79... (prefix)"), "{err}");
    assert_eq!(files(cache.path()), vec![path]);
}

#[test]
fn alexnet_download_checks_its_prefix() {
    let base = serve(vec![("/alexnet.pth", Reply::Body(vec![7u8; 1000]))]);
    let cache = tempfile::tempdir().unwrap();
    let mut seen_total = None;
    let err = fetch_from_url(
        Model::AlexNet.spec(),
        &format!("{base}/alexnet.pth"),
        cache.path(),
        |_, total| seen_total = total,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::HashMismatch {
                expected: ExpectedSha256::Prefix("7be5be79"),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen_total, Some(1000), "total from Content-Length");
    assert_eq!(entries(cache.path()), Vec::<PathBuf>::new());
}
