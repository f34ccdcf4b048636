//! The optimizer's parameters: the paper's presets, refused settings, the lr policy.

use deepvis_protocol::params::{LrPolicy, Params};

#[test]
fn presets_are_the_papers() {
    let p = Params::preset(3).unwrap();
    assert_eq!((p.decay, p.blur_radius, p.blur_every), (0.0001, 1.0, 4));
    assert_eq!(
        (p.lr_policy, p.lr, p.max_iter),
        (LrPolicy::Constant, 100.0, 1000)
    );
    let p = Params::preset(4).unwrap();
    assert_eq!((p.contrib_pct, p.max_lr), (90.0, 1e8));
    assert!(Params::preset(5).is_err());
    for n in 1..=4 {
        Params::preset(n).unwrap().validate().unwrap();
    }
}

#[test]
fn bad_settings_are_refused() {
    let ok = Params::preset(1).unwrap();
    let cases = [
        Params { decay: -0.1, ..ok },
        Params {
            decay: f64::NAN,
            ..ok
        },
        Params { decay: 1.0, ..ok },
        Params {
            norm_pct: 100.5,
            ..ok
        },
        Params {
            contrib_pct: -1.0,
            ..ok
        },
        Params {
            lr: f64::INFINITY,
            ..ok
        },
        Params {
            blur_radius: 1e6,
            ..ok
        },
        Params { max_iter: 0, ..ok },
    ];
    for c in cases {
        assert!(c.validate().is_err(), "{c:?}");
    }
}

#[test]
fn progress_lr_is_capped() {
    let p = Params::preset(1).unwrap();
    assert_eq!(p.learning_rate(1.0), 2.0);
    assert_eq!(p.learning_rate(1e-6), 100.0);
    assert!(p.blurs_at(0) && !p.blurs_at(1) && p.blurs_at(8));
}

#[test]
fn settings_saved_by_an_older_version_keep_what_they_have() {
    use deepvis_protocol::{BackSettings, OptimSettings, StartFrom};
    let mut o = OptimSettings::from_preset(Params::preset(2).unwrap());
    o.seed = 42;
    o.start = StartFrom::Frame;
    let mut v = serde_json::to_value(o).unwrap();
    // an older version had neither `endless` nor the learning-rate policy's `max_lr`
    let m = v.as_object_mut().unwrap();
    m.remove("endless");
    m["params"].as_object_mut().unwrap().remove("max_lr");
    let back: OptimSettings = serde_json::from_value(v).unwrap();
    assert_eq!((back.seed, back.start), (42, StartFrom::Frame));
    assert_eq!(back.params.decay, o.params.decay);
    assert_eq!(back.endless, OptimSettings::default().endless);
    assert_eq!(back.params.max_lr, Params::default().max_lr);
    // the attribution settings of a version before the attribution methods
    let old = serde_json::json!({"mode": "Guided", "filter": "Norm", "pos": [2, 3]});
    let b: BackSettings = serde_json::from_value(old).unwrap();
    assert_eq!(b.pos, Some((2, 3)));
    assert_eq!(b.options, Default::default());
}
