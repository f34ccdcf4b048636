//! Settings fitted to the network at load, as a pure function: a layer the model does not have
//! becomes its default layer, a unit out of range the last one in range, places off the
//! layer's map are dropped, a method the user did not choose becomes the network's default;
//! what was mended is listed for the window to say once.

use deepvis_protocol::{BackMode, Mended, MethodKind, OptimSettings};

/// The settings that name parts of a network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    /// The grid layer (`None`: the model's default).
    pub layer: Option<String>,
    /// The selected channel.
    pub unit: Option<usize>,
    /// The attribution pane's position in the unit's map.
    pub back_pos: Option<(usize, usize)>,
    /// The position whose direction the preferred image follows.
    pub direction_at: Option<(usize, usize)>,
}

/// A layer's size: channels and map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Channels.
    pub channels: usize,
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
}

impl Shape {
    fn holds(&self, (y, x): (usize, usize)) -> bool {
        y < self.height && x < self.width
    }
}

/// The settings that fit, and what was mended to make them fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    /// The grid layer (as asked when the model has it, else the default).
    pub layer: String,
    /// The settings as they are now (the layer `None` when the default was asked for).
    pub settings: Asked,
    /// What was mended, in the order of [`Asked`]'s fields.
    pub mended: Vec<Mended>,
}

/// Fits `asked` to a model whose default layer is `default` and whose layers' shapes `shape`
/// gives (`None` for a name the model does not have). A unit asked for on a layer the model
/// does not have meant a channel of that layer: it is dropped, as are the places on its map.
pub fn fit(asked: &Asked, default: &str, shape: impl Fn(&str) -> Option<Shape>) -> Fitted {
    let mut mended = Vec::new();
    let mut settings = asked.clone();
    let (layer, replaced) = match asked.layer.as_deref() {
        Some(l) if shape(l).is_some() => (l.to_string(), false),
        Some(l) => {
            mended.push(Mended::Layer {
                asked: l.to_string(),
                now: default.to_string(),
            });
            settings.layer = Some(default.to_string());
            (default.to_string(), true)
        }
        None => (default.to_string(), false),
    };
    let here = shape(&layer);
    if let Some(asked) = asked.unit {
        let now = match here {
            Some(s) if !replaced && s.channels > 0 => Some(asked.min(s.channels - 1)),
            _ => None,
        };
        if now != Some(asked) {
            mended.push(Mended::Unit { asked, now });
            settings.unit = now;
        }
    }
    let on_map = |p: (usize, usize)| !replaced && here.is_some_and(|s| s.holds(p));
    if let Some(p) = asked.back_pos.filter(|&p| !on_map(p)) {
        mended.push(Mended::BackPos { asked: p });
        settings.back_pos = None;
    }
    if let Some(p) = asked.direction_at.filter(|&p| !on_map(p)) {
        mended.push(Mended::DirectionAt { asked: p });
        settings.direction_at = None;
    }
    Fitted {
        layer,
        settings,
        mended,
    }
}

/// The attribution method kept when the network can draw it (`drawable`), else the default
/// method, with what was mended.
pub fn fit_attribution(asked: BackMode, drawable: &[BackMode]) -> (BackMode, Option<Mended>) {
    if asked == BackMode::Off || drawable.contains(&asked) {
        return (asked, None);
    }
    let now = BackMode::default();
    (now, Some(Mended::Attribution { asked, now }))
}

/// The method a session on a network whose default method is `default` starts with, when it
/// is not the one `o` holds: a method the user chose stays (also the paper's on a transformer);
/// one that was only a default (the paper's, saved from a SqueezeNet session that never chose)
/// gives way to this network's. Apply it with [`OptimSettings::use_method`].
pub fn fit_method(o: &OptimSettings, default: MethodKind) -> Option<Mended> {
    let asked = o.method.kind();
    (!o.method_was_chosen() && asked != default).then_some(Mended::Method {
        asked,
        now: default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_only_defaulted_follows_the_network_and_a_chosen_one_stays() {
        let fresh = OptimSettings::default();
        let paper_to_maco = Some(Mended::Method {
            asked: MethodKind::Paper,
            now: MethodKind::Maco,
        });
        // a fresh session, or settings saved before the choice was recorded, on a transformer
        assert_eq!(fit_method(&fresh, MethodKind::Maco), paper_to_maco);
        assert_eq!(fit_method(&fresh, MethodKind::Paper), None);
        // MACO set as a transformer's default, then back on SqueezeNet: the paper's again
        let mut o = fresh;
        o.use_method(MethodKind::Maco, false);
        assert_eq!(o.method, deepvis_protocol::Method::MACO);
        assert_eq!(fit_method(&o, MethodKind::Maco), None);
        assert_eq!(
            fit_method(&o, MethodKind::Paper),
            Some(Mended::Method {
                asked: MethodKind::Maco,
                now: MethodKind::Paper,
            })
        );
        // what the user picked stays, the paper's on a transformer included
        for kind in MethodKind::ALL {
            let mut o = fresh;
            o.use_method(kind, true);
            for default in MethodKind::ALL {
                assert_eq!(fit_method(&o, default), None, "{kind:?} on {default:?}");
            }
        }
        // older settings that do not say: a method other than the paper's was a choice
        let mut old = fresh;
        old.method = deepvis_protocol::Method::FOURIER;
        assert_eq!(old.method_chosen, None);
        assert_eq!(fit_method(&old, MethodKind::Maco), None);
        assert_eq!(fit_method(&old, MethodKind::Paper), None);
        // the default taken brings its own hyperparameters and says it was not chosen
        let mut o = fresh;
        if let Some(Mended::Method { now, .. }) = fit_method(&o, MethodKind::Maco) {
            o.use_method(now, false);
        }
        assert_eq!(o.method.kind(), MethodKind::Maco);
        assert_eq!(
            o.params,
            deepvis_protocol::Method::default_params(MethodKind::Maco)
        );
        assert_eq!(o.method_chosen, Some(false));
    }

    /// A model with `conv` (64 channels, 13 x 13) and `head` (1280, 7 x 7), `head` its default.
    fn model(name: &str) -> Option<Shape> {
        let shape = |channels, side| Shape {
            channels,
            height: side,
            width: side,
        };
        match name {
            "conv" => Some(shape(64, 13)),
            "head" => Some(shape(1280, 7)),
            _ => None,
        }
    }

    #[test]
    fn settings_that_fit_are_kept_and_nothing_is_said() {
        let asked = Asked {
            layer: Some("conv".into()),
            unit: Some(63),
            back_pos: Some((12, 0)),
            direction_at: Some((0, 12)),
        };
        let f = fit(&asked, "head", model);
        assert_eq!((f.layer.as_str(), &f.settings), ("conv", &asked));
        assert!(f.mended.is_empty());
        // the default layer when none is asked for
        let f = fit(&Asked::default(), "head", model);
        assert_eq!((f.layer.as_str(), f.mended.len()), ("head", 0));
        assert_eq!(f.settings, Asked::default());
    }

    #[test]
    fn a_layer_of_another_model_becomes_the_default_and_its_unit_and_places_go() {
        // a session on SqueezeNet, then a model without fire9
        let asked = Asked {
            layer: Some("fire9".into()),
            unit: Some(500),
            back_pos: Some((2, 3)),
            direction_at: Some((1, 1)),
        };
        let f = fit(&asked, "head", model);
        assert_eq!(f.layer, "head");
        assert_eq!(
            f.settings,
            Asked {
                layer: Some("head".into()),
                ..Asked::default()
            }
        );
        assert_eq!(
            f.mended,
            [
                Mended::Layer {
                    asked: "fire9".into(),
                    now: "head".into()
                },
                Mended::Unit {
                    asked: 500,
                    now: None
                },
                Mended::BackPos { asked: (2, 3) },
                Mended::DirectionAt { asked: (1, 1) },
            ]
        );
        // fitted once, they fit: nothing more to say
        assert!(fit(&f.settings, "head", model).mended.is_empty());
    }

    #[test]
    fn a_unit_out_of_range_becomes_the_last_and_places_off_the_map_go() {
        let asked = Asked {
            layer: None,
            unit: Some(5000),
            back_pos: Some((7, 0)),
            direction_at: Some((6, 6)),
        };
        let f = fit(&asked, "head", model);
        assert_eq!(
            f.mended,
            [
                Mended::Unit {
                    asked: 5000,
                    now: Some(1279)
                },
                Mended::BackPos { asked: (7, 0) },
            ]
        );
        assert_eq!(
            f.settings,
            Asked {
                layer: None,
                unit: Some(1279),
                back_pos: None,
                direction_at: Some((6, 6)),
            }
        );
    }

    #[test]
    fn a_method_the_network_cannot_draw_becomes_the_default() {
        let cnn = [BackMode::Grad, BackMode::GradCam];
        assert_eq!(
            fit_attribution(BackMode::GradCam, &cnn),
            (BackMode::GradCam, None)
        );
        assert_eq!(fit_attribution(BackMode::Off, &cnn), (BackMode::Off, None));
        let (now, said) = fit_attribution(BackMode::Rollout, &cnn);
        assert_eq!(now, BackMode::Grad);
        assert_eq!(
            said,
            Some(Mended::Attribution {
                asked: BackMode::Rollout,
                now: BackMode::Grad
            })
        );
    }
}
