//! The attribution stage: owns the pane's settings, the lanes (`attr`) and the network copy they
//! run on, and turns what the lanes produce into the window's events.

use deepvis_model::BackProjector;
use deepvis_protocol::{BackInfo, BackMode, BackSettings, Command, Doing, Event};

use crate::attr::{Lanes, Out, Subject};
use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::frame::Look;
use crate::stage::{Cx, Ripple, Took};

/// The attribution stage.
pub(crate) struct AttributionStage {
    settings: BackSettings,
    lanes: Lanes,
    /// A copy of the network on the autodiff device.
    back: BackProjector,
    /// The pane's maps since the statistics last took them.
    maps: u32,
}

impl AttributionStage {
    /// A stage on `model` with the pane's `settings`.
    pub fn new(model: &Model, settings: BackSettings) -> AttributionStage {
        AttributionStage {
            lanes: Lanes::new(settings.mode, settings.options.clone()),
            settings,
            back: BackProjector::new(model.net.clone(), &model.device),
            maps: 0,
        }
    }

    /// Carries out a command for the attribution pane (its settings, the compare view, the
    /// sanity check; any other is passed on).
    pub fn command(&mut self, c: Command, cx: &mut Cx) -> Took {
        let now = Ripple {
            attribute_now: true,
            ..Ripple::NONE
        };
        let ripple = match c {
            Command::SetBack(b) => {
                match drawable(&b, cx.model).and_then(|()| self.set(b.clone())) {
                    Ok(()) => {
                        cx.keep.update(|s| s.back = b);
                        Ripple {
                            reprocess: true,
                            ..now
                        }
                    }
                    Err(e) => {
                        cx.out.fail(Doing::Setting, &e);
                        Ripple::NONE
                    }
                }
            }
            Command::SetCompare(on) => {
                self.set_compare(on);
                now
            }
            Command::Sanity(true) => {
                let events = self.start_sanity(cx.model);
                cx.out.send_all(events);
                now
            }
            Command::Sanity(false) => {
                self.cancel_sanity();
                Ripple::NONE
            }
            other => return Took::Passed(other),
        };
        Took::Done(ripple)
    }

    /// Where the pane looks in the unit's map.
    pub fn look(&self) -> Look {
        Look {
            pos: self.settings.pos,
            whole_map: self.settings.whole_map,
        }
    }

    /// The network moved to another device: the lanes follow it and start over.
    pub fn moved(&mut self, model: &Model) {
        self.back = BackProjector::new(model.net.clone(), &model.device);
        self.lanes.drop_jobs();
    }

    /// New settings for the pane (refused when out of range): the lanes start over with them.
    pub fn set(&mut self, b: BackSettings) -> Result<()> {
        b.options.check().map_err(EngineError::Setting)?;
        let unit_changed = self.settings.pos != b.pos || self.settings.whole_map != b.whole_map;
        self.settings = b;
        self.reset(unit_changed);
        Ok(())
    }

    /// The lanes start over with the current settings (the sanity check too when the unit
    /// changed).
    pub fn reset(&mut self, unit_changed: bool) {
        self.lanes.reset(
            self.settings.mode,
            self.settings.options.clone(),
            unit_changed,
        );
    }

    /// The unit on the newest frame (`None`: no unit selected).
    pub fn set_frame(&mut self, subject: Option<Subject>) {
        self.lanes.set_frame(subject);
    }

    /// Shows every method side by side (true) or stops (false).
    pub fn set_compare(&mut self, on: bool) {
        self.lanes.set_compare(on);
    }

    /// Starts the sanity check: its first report, or why it cannot start.
    pub fn start_sanity(&mut self, model: &Model) -> Vec<Event> {
        let out = self.lanes.start_sanity(self.back.net());
        out.into_iter().map(|o| self.event(o, model)).collect()
    }

    /// Stops the sanity check.
    pub fn cancel_sanity(&mut self) {
        self.lanes.cancel_sanity();
    }

    /// Whether any lane has work.
    pub fn busy(&self) -> bool {
        self.lanes.busy()
    }

    /// Whether the pane's lane still has a turn owed.
    pub fn main_due(&self) -> bool {
        self.lanes.main_due()
    }

    /// One turn of the lanes: what they produced, as events.
    pub fn step(&mut self, model: &Model) -> Vec<Event> {
        let outs = self.lanes.step(self.back.net());
        outs.into_iter().map(|o| self.event(o, model)).collect()
    }

    /// The pane's maps since the last call.
    pub fn take_maps(&mut self) -> u32 {
        std::mem::take(&mut self.maps)
    }

    /// What a lane produced as the window's event, maps drawn with the pane's filter and colour
    /// map.
    fn event(&mut self, out: Out, model: &Model) -> Event {
        match out {
            Out::Map {
                compare,
                layer,
                channel,
                attribution: a,
                through,
                ms,
            } => {
                let Some(image) = deepvis_viz::attribution_image(
                    &a.map,
                    a.channels,
                    a.height,
                    a.width,
                    model.info.norm().order,
                    self.settings.filter,
                    self.settings.cmap,
                ) else {
                    let doing = match compare {
                        true => Doing::Compare { method: a.method },
                        false => Doing::Attribution,
                    };
                    return EngineError::WrongSize("the attribution map").event(doing);
                };
                let info = BackInfo {
                    layer,
                    channel,
                    pos: a.pos,
                    method: a.method,
                    filter: self.settings.filter,
                    through,
                    passes: a.passes,
                    // deconvolution can lose every signal at a rectifier: the window says so
                    all_zero: a.map.iter().all(|v| *v == 0.0),
                    cam_layer: a.cam_layer,
                    value: a.value,
                    ms,
                };
                if compare {
                    Event::Compare { info, image }
                } else {
                    self.maps += 1;
                    Event::Back { info, image }
                }
            }
            Out::Progress {
                compare,
                method,
                done,
                total,
            } => Event::BackProgress {
                compare,
                method,
                done,
                total,
            },
            Out::Sanity(r) => Event::Sanity(r),
            Out::Error(doing, e) => e.event(doing),
        }
    }
}

/// Whether the network can draw the settings' method (attention rollout needs attention).
fn drawable(b: &BackSettings, model: &Model) -> Result<()> {
    let fits =
        b.mode == BackMode::Off || deepvis_attribution::methods_for(&model.info).contains(&b.mode);
    match fits {
        true => Ok(()),
        false => Err(EngineError::from(deepvis_attribution::Error::NoAttention(
            model.info.name().to_string(),
        ))),
    }
}
