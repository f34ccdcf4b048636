//! The tables of transforms and penalties (names, formulas by hand, text and stored forms) and
//! a method stored by an earlier version.

use deepvis_protocol::{Axis, Method, Penalties, PenaltyKind, PixelOps, TransformKind, Transforms};

#[test]
fn the_table_is_consistent_and_round_trips() {
    for (k, name) in TransformKind::ALL.into_iter().zip(TransformKind::NAMES) {
        assert_eq!(k.spec().name, name);
        assert_eq!(TransformKind::from_name(name), Some(k));
        assert!(k.spec().slider_max <= k.spec().max);
        // each kind has its own value
        let t = Transforms::OFF.with(k, 1.0);
        for j in TransformKind::ALL {
            assert_eq!(t.get(j), if j == k { 1.0 } else { 0.0 }, "{k:?} {j:?}");
        }
    }
    let t = Transforms::parse("jitter=4,rotate=5").unwrap();
    assert_eq!(t.to_string(), "jitter=4,rotate=5");
    assert_eq!(
        Transforms::parse(&Transforms::WIDE.to_string()),
        Ok(Transforms::WIDE)
    );
    let json = serde_json::to_string(&Transforms::STANDARD).unwrap();
    assert_eq!(
        json,
        r#"{"pad":12.0,"jitter":8.0,"scale":0.1,"rotate":10.0}"#
    );
    // as earlier versions wrote it (whole pixels as integers), a field missing
    let old: Transforms = serde_json::from_str(r#"{"pad":16,"jitter":16,"scale":0.2}"#).unwrap();
    assert_eq!(old, Transforms::WIDE.with(TransformKind::Rotate, 0.0));
    for bad in [
        "pad=1.5",
        "scale=2",
        "rotate=-1",
        "shear=3",
        "pad",
        "jitter=x",
    ] {
        assert!(Transforms::parse(bad).is_err(), "{bad}");
    }
}

/// A grey-level picture as nested rows, one image, one channel.
#[derive(Clone)]
struct Px(Vec<Vec<f64>>);

impl PixelOps for Px {
    type Scalar = f64;
    fn diff(&self, axis: Axis) -> Px {
        let r = &self.0;
        Px(match axis {
            Axis::Height => (1..r.len())
                .map(|y| r[y].iter().zip(&r[y - 1]).map(|(a, b)| a - b).collect())
                .collect(),
            Axis::Width => r
                .iter()
                .map(|row| row.windows(2).map(|p| p[1] - p[0]).collect())
                .collect(),
        })
    }
    fn minus(&self, v: f64) -> Px {
        Px(self
            .0
            .iter()
            .map(|r| r.iter().map(|x| x - v).collect())
            .collect())
    }
    fn abs(self) -> Px {
        Px(self
            .0
            .into_iter()
            .map(|r| r.into_iter().map(f64::abs).collect())
            .collect())
    }
    fn square(self) -> Px {
        Px(self
            .0
            .into_iter()
            .map(|r| r.into_iter().map(|x| x * x).collect())
            .collect())
    }
    fn mean_per_image(self) -> f64 {
        let all: Vec<f64> = self.0.into_iter().flatten().collect();
        all.iter().sum::<f64>() / all.len() as f64
    }
    fn size(&self) -> (usize, usize) {
        (self.0.len(), self.0.first().map_or(0, Vec::len))
    }
    fn off_start(&self) -> Option<Px> {
        None
    }
}

#[test]
fn the_formulas_by_hand_and_the_table() {
    for (i, (k, name)) in PenaltyKind::ALL
        .into_iter()
        .zip(PenaltyKind::NAMES)
        .enumerate()
    {
        assert_eq!(PenaltyKind::ALL[i], k);
        let p = Penalties::OFF.with(k, 1.0);
        assert_eq!(p.active().collect::<Vec<_>>(), [(k, 1.0)]);
        assert_eq!(k.spec().name, name);
        assert_eq!(PenaltyKind::from_name(name), Some(k));
    }
    // [[0, 1], [1, 1]]: vertical |1 - 0|, |1 - 1| -> 0.5; horizontal 1, 0 -> 0.5
    let px = Px(vec![vec![0.0, 1.0], vec![1.0, 1.0]]);
    assert_eq!(PenaltyKind::Tv.eval(&px), Some(1.0));
    assert_eq!(PenaltyKind::L1.eval(&px), Some(0.5));
    assert_eq!(PenaltyKind::L2.eval(&px), Some(0.25));
    assert_eq!(PenaltyKind::Tv.eval(&Px(vec![vec![0.3, 0.9]])), None);
    let mut p = Penalties::OFF;
    p.parse_into("tv=0.5,l1=2").unwrap();
    assert_eq!(
        p,
        Penalties::OFF
            .with(PenaltyKind::Tv, 0.5)
            .with(PenaltyKind::L1, 2.0)
    );
    assert_eq!(p.active().count(), 2);
    for bad in ["tv=-1", "tv=nan", "blur=1", "tv"] {
        let mut p = Penalties::OFF;
        assert!(p.parse_into(bad).is_err(), "{bad}");
    }
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"tv":0.5,"l1":2.0,"l2":0.0,"start":0.0}"#);
    assert_eq!(
        serde_json::from_str::<Penalties>(r#"{"l1":2}"#).unwrap(),
        p.with(PenaltyKind::Tv, 0.0)
    );
}

#[test]
fn a_method_stored_by_an_earlier_version_still_reads() {
    // the penalties beside the other knobs, whole-pixel transforms as integers
    let old = r#"{"param":"fourier","decay_power":1.0,"decorrelate":true,"init_sd":0.01,
        "transforms":{"pad":16,"jitter":16,"scale":0.2,"rotate":15.0},"adam":true,
        "adam_lr":0.02,"tv":0.5,"l1":0.0}"#;
    let m: Method = serde_json::from_str(old).unwrap();
    let want = Method {
        penalties: Penalties::OFF.with(PenaltyKind::Tv, 0.5),
        ..Method::FOURIER
    };
    assert_eq!(m, want);
    let again: Method = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(again, m);
    // fields missing: the paper's
    let m: Method = serde_json::from_str(r#"{"transforms":{"jitter":4}}"#).unwrap();
    assert_eq!(
        m,
        Method {
            transforms: Transforms::OFF.with(TransformKind::Jitter, 4.0),
            ..Method::PAPER
        }
    );
}
