//! The device table: every kind of device the window offers beside the files (the cameras,
//! the synthetic pattern), how to list its devices and how to open one. A new kind of device is
//! its source file and one row here; the protocol and the window know no kind by name.

use deepvis_protocol::{DeviceOffer, DeviceRef};

use crate::{Camera, FrameSource, SourceError, Synthetic, list_cameras};

/// A kind's devices now: (index, the picker's label).
type Listing = Result<Vec<(u32, String)>, SourceError>;
/// An opened device.
type Opened = Result<Box<dyn FrameSource>, SourceError>;

/// A kind of device.
struct Kind {
    /// Its key in [`DeviceRef::kind`].
    key: &'static str,
    /// The picker's word for it (`camera`).
    noun: &'static str,
    /// Its devices now.
    list: fn() -> Listing,
    /// Opens device `index` at (about) `width x height`.
    open: fn(u32, u32, u32) -> Opened,
}

/// Frames per second of the synthetic pattern offered in the picker.
const PATTERN_FPS: u32 = 30;

/// Every kind, in the picker's order.
const KINDS: &[Kind] = &[
    Kind {
        key: "camera",
        noun: "camera",
        list: || {
            let found = list_cameras()?.into_iter();
            Ok(found
                .map(|(i, name)| (i, format!("camera {i}: {name}")))
                .collect())
        },
        open: |i, w, h| Ok(Box::new(Camera::open(i, w, h)?)),
    },
    Kind {
        key: "synthetic",
        noun: "synthetic pattern",
        list: || Ok(vec![(0, "synthetic pattern".into())]),
        open: |_, w, h| Ok(Box::new(Synthetic::new(w, h, PATTERN_FPS))),
    },
];

/// What the picker offers, asked at `width x height`: each kind's devices, and a note for each
/// kind that found none or could not look.
pub fn devices(width: u32, height: u32) -> (Vec<DeviceOffer>, Vec<String>) {
    let (mut offers, mut notes) = (Vec::new(), Vec::new());
    for k in KINDS {
        match (k.list)() {
            Ok(found) if found.is_empty() => notes.push(format!("no {} found", k.noun)),
            Ok(found) => offers.extend(found.into_iter().map(|(index, label)| DeviceOffer {
                label,
                device: DeviceRef {
                    kind: k.key.to_string(),
                    index,
                    width,
                    height,
                },
            })),
            Err(e) => notes.push(format!("{}: {e}", k.noun)),
        }
    }
    (offers, notes)
}

/// Opens the device `d` names.
pub fn open_device(d: &DeviceRef) -> Opened {
    match KINDS.iter().find(|k| k.key == d.kind) {
        Some(k) => (k.open)(d.index, d.width, d.height),
        None => Err(SourceError::UnknownDevice {
            kind: d.kind.clone(),
            known: KINDS.iter().map(|k| k.key).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(index: u32) -> DeviceRef {
        DeviceRef {
            kind: "synthetic".into(),
            index,
            width: 64,
            height: 48,
        }
    }

    #[test]
    fn the_pattern_is_offered_and_opens_at_the_size_asked() {
        let (offers, _) = devices(64, 48);
        let offer = offers.iter().find(|o| o.device == pattern(0));
        assert_eq!(offer.map(|o| o.label.as_str()), Some("synthetic pattern"));
        let mut s = open_device(&pattern(0)).unwrap();
        let frame = s.next_frame().unwrap().unwrap();
        assert_eq!(frame.dimensions(), (64, 48));
    }

    #[test]
    fn every_kind_is_offered_or_noted() {
        let (offers, notes) = devices(320, 240);
        for k in KINDS {
            let offered = offers.iter().any(|o| o.device.kind == k.key);
            let noted = notes.iter().any(|n| n.contains(k.noun));
            assert!(offered ^ noted, "{}: {offers:?} {notes:?}", k.key);
        }
    }

    #[test]
    fn a_kind_not_in_the_table_is_a_clear_error() {
        let d = DeviceRef {
            kind: "screen".into(),
            ..pattern(0)
        };
        let e = open_device(&d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("screen") && e.contains("camera, synthetic"),
            "{e}"
        );
    }
}
