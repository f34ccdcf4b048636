//! Small PyTorch checkpoints written here as `torch.save` lays them out (a pickle of
//! `_rebuild_tensor_v2` calls over persistent storage ids; the ZIP container of PyTorch 1.6+
//! and the legacy one of back-to-back pickles), as seeds of the `.pth` reader's fuzzing: no
//! checkpoint file is kept in the repository.

use crate::mutate::crc32;

/// A pickle (protocol 2) being written.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn new() -> Pickle {
        Pickle(vec![0x80, 2])
    }
    fn op(&mut self, b: &[u8]) -> &mut Pickle {
        self.0.extend_from_slice(b);
        self
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Pickle {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    fn str(&mut self, s: &str) -> &mut Pickle {
        self.op(b"X")
            .op(&(s.len() as u32).to_le_bytes())
            .op(s.as_bytes())
    }
    fn int(&mut self, v: i32) -> &mut Pickle {
        self.op(b"J").op(&v.to_le_bytes())
    }
    fn ints(&mut self, v: &[usize]) -> &mut Pickle {
        self.op(b"(");
        for &x in v {
            self.int(x as i32);
        }
        self.op(b"t")
    }
    /// An empty `collections.OrderedDict()`.
    fn ordered_dict(&mut self) -> &mut Pickle {
        self.global("collections", "OrderedDict").op(b")R")
    }
    /// `_rebuild_tensor_v2(storage key of type, offset 0, shape, contiguous strides)`.
    fn tensor(&mut self, storage: &str, key: &str, shape: &[usize]) -> &mut Pickle {
        let numel: usize = shape.iter().product();
        let strides: Vec<usize> = (0..shape.len())
            .map(|i| shape[i + 1..].iter().product())
            .collect();
        self.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
        self.op(b"(")
            .str("storage")
            .global("torch", storage)
            .str(key)
            .str("cpu")
            .int(numel as i32)
            .op(b"tQ");
        self.int(0).ints(shape).ints(&strides).op(&[0x89]);
        self.ordered_dict().op(b"tR")
    }
    fn done(&mut self) -> Vec<u8> {
        self.op(b".");
        std::mem::take(&mut self.0)
    }
}

/// One tensor of a seed: its name, storage class, shape and little-endian bytes.
struct Tensor {
    name: &'static str,
    storage: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn floats(name: &'static str, shape: Vec<usize>) -> Tensor {
    let n: usize = shape.iter().product();
    let bytes = (0..n)
        .flat_map(|i| (i as f32 * 0.25 - 1.0).to_le_bytes())
        .collect();
    Tensor {
        name,
        storage: "FloatStorage",
        shape,
        bytes,
    }
}

fn doubles(name: &'static str, shape: Vec<usize>) -> Tensor {
    let n: usize = shape.iter().product();
    let bytes = (0..n)
        .flat_map(|i| (i as f64 * 0.5).to_le_bytes())
        .collect();
    Tensor {
        name,
        storage: "DoubleStorage",
        shape,
        bytes,
    }
}

/// The pickle of a state dict of `tensors` (storage keys "0", "1", ...), nested under
/// `under` in an outer dict when given (a training checkpoint's `state_dict`).
fn state_dict(tensors: &[Tensor], under: Option<&str>) -> Vec<u8> {
    let mut p = Pickle::new();
    if let Some(key) = under {
        p.op(b"}").str(key);
    }
    p.ordered_dict().op(b"(");
    for (i, t) in tensors.iter().enumerate() {
        p.str(t.name).tensor(t.storage, &i.to_string(), &t.shape);
    }
    p.op(b"u");
    if under.is_some() {
        p.op(b"s");
    }
    p.done()
}

/// A ZIP archive of stored (uncompressed) entries.
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let u16le = |v: usize| (v as u16).to_le_bytes();
    let u32le = |v: usize| (v as u32).to_le_bytes();
    for (name, data) in entries {
        let offset = out.len();
        let crc = crc32(data).to_le_bytes();
        // version 2.0, no flags, stored, 1980-01-01 00:00
        let common = [
            &u16le(20)[..],
            &u16le(0),
            &u16le(0),
            &u16le(0),
            &u16le(0x21),
            &crc,
            &u32le(data.len()),
            &u32le(data.len()),
            &u16le(name.len()),
            &u16le(0),
        ]
        .concat();
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&u16le(20));
        central.extend_from_slice(&common);
        // comment, disk, internal and external attributes, then where the entry starts
        central.extend_from_slice(&[&u16le(0)[..], &u16le(0), &u16le(0), &u32le(0)].concat());
        central.extend_from_slice(&u32le(offset));
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size) = (out.len(), central.len());
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(
        &[
            &u16le(0)[..],
            &u16le(0),
            &u16le(entries.len()),
            &u16le(entries.len()),
            &u32le(cd_size),
            &u32le(cd_offset),
            &u16le(0),
        ]
        .concat(),
    );
    out
}

/// A PyTorch 1.6+ checkpoint: `archive/data.pkl`, one `archive/data/<key>` per storage.
fn zip_checkpoint(tensors: &[Tensor], under: Option<&str>) -> Vec<u8> {
    let mut entries = vec![
        ("archive/data.pkl".to_string(), state_dict(tensors, under)),
        ("archive/byteorder".to_string(), b"little".to_vec()),
    ];
    for (i, t) in tensors.iter().enumerate() {
        entries.push((format!("archive/data/{i}"), t.bytes.clone()));
    }
    entries.push(("archive/version".to_string(), b"3\n".to_vec()));
    zip(&entries)
}

/// A legacy checkpoint: the magic number, protocol 1001 and the system's description as
/// pickles, the state dict's pickle, the list of storage keys, then each storage as an 8-byte
/// element count and its bytes.
fn legacy_checkpoint(tensors: &[Tensor]) -> Vec<u8> {
    // 0x1950a86a20f9469cfc6c, little-endian
    let magic = [108u8, 252, 156, 70, 249, 32, 106, 168, 80, 25];
    let mut out = Pickle::new().op(&[0x8a, 10]).op(&magic).done();
    out.extend(Pickle::new().op(b"M").op(&1001u16.to_le_bytes()).done());
    out.extend(
        Pickle::new()
            .op(b"}(")
            .str("protocol_version")
            .int(1001)
            .str("little_endian")
            .op(&[0x88])
            .op(b"u")
            .done(),
    );
    out.extend(state_dict(tensors, None));
    let mut keys = Pickle::new();
    keys.op(b"](");
    for i in 0..tensors.len() {
        keys.str(&i.to_string());
    }
    out.extend(keys.op(b"e").done());
    for t in tensors {
        let numel: usize = t.shape.iter().product();
        out.extend_from_slice(&(numel as u64).to_le_bytes());
        out.extend_from_slice(&t.bytes);
    }
    out
}

/// The seeds: (file name, bytes).
pub(crate) fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let net = || {
        vec![
            floats("conv.weight", vec![2, 1, 3, 3]),
            floats("conv.bias", vec![2]),
        ]
    };
    vec![
        ("state_dict.pt", zip_checkpoint(&net(), None)),
        ("checkpoint.pt", zip_checkpoint(&net(), Some("state_dict"))),
        (
            "float64.pt",
            zip_checkpoint(&[doubles("x", vec![3, 4])], None),
        ),
        ("legacy.pt", legacy_checkpoint(&net())),
    ]
}

#[cfg(test)]
mod tests {
    use deepvis_model::WeightMap;

    #[test]
    fn the_seeds_read_back_as_the_tensors_written() {
        let dir = tempfile::tempdir().expect("a folder");
        for (name, bytes) in super::seeds() {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).expect("write");
            let m = WeightMap::read_pytorch(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let t = &m.tensors;
            if name == "float64.pt" {
                assert_eq!(t["x"].shape, vec![3, 4], "{name}");
                assert_eq!(t["x"].data[..3], [0.0, 0.5, 1.0], "{name}");
                continue;
            }
            // a checkpoint's state dict is read under its key or flattened; either way the
            // tensors are there with their shapes and values
            let w = t
                .iter()
                .find(|(k, _)| k.ends_with("conv.weight"))
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("{name}: {:?}", t.keys()));
            assert_eq!(w.shape, vec![2, 1, 3, 3], "{name}");
            assert_eq!(w.data[..3], [-1.0, -0.75, -0.5], "{name}");
            assert!(t.keys().any(|k| k.ends_with("conv.bias")), "{name}");
        }
    }
}
