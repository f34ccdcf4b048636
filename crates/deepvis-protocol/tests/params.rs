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
