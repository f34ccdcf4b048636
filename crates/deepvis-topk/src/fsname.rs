//! File names made from a model's node or layer names, and writes kept inside their output
//! folder: a node named `../../x` or `/etc` must not choose where deepvis writes.

use std::path::{Component, Path, PathBuf};

/// Longest file name [`safe_file_name`] gives, in bytes (file systems allow 255).
pub const MAX_NAME_BYTES: usize = 120;

/// A file name for `name`: path separators, control characters and the characters Windows
/// forbids become `_`, a leading `.` becomes `_` (no hidden file, no `.` or `..`), an empty
/// name is `_`, and a name over [`MAX_NAME_BYTES`] is cut and ends with a hash of the whole
/// (so two long names stay apart). A name that needs none of this is returned as it is.
pub fn safe_file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.len() > MAX_NAME_BYTES {
        // FNV-1a of the original name
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        let mut cut = MAX_NAME_BYTES - 17;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("-{hash:016x}"));
    }
    out
}

/// Whether `rel` is a relative path of plain names only (no root, no `..`, no `.`).
pub fn is_plain_relative(rel: &Path) -> bool {
    rel.components().next().is_some() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `dir/rel` when `rel` is a plain relative path and the folder it lands in (which must
/// exist), links followed, is inside `dir`; else an error naming both.
pub fn contained(dir: &Path, rel: &Path) -> std::io::Result<PathBuf> {
    let outside = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} would be written outside the output folder {}: {why}",
                rel.display(),
                dir.display()
            ),
        )
    };
    if !is_plain_relative(rel) {
        return Err(outside("the name is not a plain relative path".into()));
    }
    let path = dir.join(rel);
    let parent = path.parent().unwrap_or(dir);
    let (real_dir, real_parent) = (dir.canonicalize()?, parent.canonicalize()?);
    if !real_parent.starts_with(&real_dir) {
        return Err(outside(format!(
            "its folder resolves to {}",
            real_parent.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_become_plain_file_names() {
        assert_eq!(safe_file_name("conv1"), "conv1");
        assert_eq!(safe_file_name("fire2/squeeze1x1"), "fire2_squeeze1x1");
        assert_eq!(safe_file_name("../../etc"), "_._.._etc");
        assert_eq!(safe_file_name(".."), "_.");
        assert_eq!(safe_file_name("/features/Conv"), "_features_Conv");
        assert_eq!(safe_file_name("a\nb\0c"), "a_b_c");
        assert_eq!(safe_file_name(""), "_");
        let long = "é".repeat(200);
        let (a, b) = (safe_file_name(&long), safe_file_name(&format!("{long}x")));
        assert!(a.len() <= MAX_NAME_BYTES && a != b, "{a} {b}");
    }

    #[test]
    fn only_plain_relative_paths_are_contained() {
        assert!(is_plain_relative(Path::new("a/b.png")));
        for bad in ["../a.png", "/etc/x", "a/../../b", "", "./a"] {
            assert!(!is_plain_relative(Path::new(bad)), "{bad}");
        }
    }
}
