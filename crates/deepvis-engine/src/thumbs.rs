//! The thumbnail stage: small preferred images of what the window asks for (a circuit's
//! inputs, the concept, the frame's parts), made one at a time from seeded noise with the
//! window's method for at most [`THUMB_ITERS`] iterations, each sent as it forms and when done.
//! The window keeps them: each is made once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use deepvis_optim::recipe::Which;
use deepvis_optim::{Goal, Objective, Optimizer, RunConfig, Term};
use deepvis_protocol::{Command, Doing, Event, Method, MethodKind, OptimSettings, ThumbOf};

use crate::concept::ConceptStage;
use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::outlet::Outlet;
use crate::stage::{Cx, Ripple, Took};

/// The most iterations a thumbnail gets.
pub(crate) const THUMB_ITERS: usize = 128;
/// How often a forming thumbnail is sent.
const THUMB_EVERY: Duration = Duration::from_secs(1);
/// The most thumbnails waiting (the oldest asked go first when more come).
const QUEUE_MAX: usize = 64;

/// The thumbnail being made.
struct Current {
    of: ThumbOf,
    id: usize,
    last_sent: Instant,
}

/// The thumbnail stage.
pub(crate) struct ThumbStage {
    opt: Optimizer,
    queue: VecDeque<(ThumbOf, Goal)>,
    current: Option<Current>,
}

impl ThumbStage {
    /// A stage on `model`'s network.
    pub fn new(model: &Model) -> ThumbStage {
        ThumbStage {
            opt: Optimizer::new(model.net.clone(), &model.device),
            queue: VecDeque::new(),
            current: None,
        }
    }

    /// The network moved to another device: the thumbnail being made starts over there.
    pub fn moved(&mut self, model: &Model) {
        if let Some(c) = self.current.take()
            && let Ok(cfg) = self.opt.config(c.id)
        {
            self.queue.push_front((c.of, cfg.objective.clone()));
        }
        self.opt = Optimizer::new(model.net.clone(), &model.device);
    }

    /// Carries out [`Command::Thumbnail`]; the concept and the parts come from `concepts`.
    pub fn command(&mut self, c: Command, concepts: &ConceptStage, cx: &mut Cx) -> Took {
        match c {
            Command::Thumbnail(of) => {
                match goal(&of, concepts, cx.model) {
                    Ok(goal) => self.ask(of, goal),
                    Err(e) => cx.out.fail(Doing::Thumbnail, &e),
                }
                Took::Done(Ripple::NONE)
            }
            other => Took::Passed(other),
        }
    }

    /// Queues a thumbnail of `goal` (the concept's and the parts' ahead of units'); one of the
    /// same thing asked before starts over.
    pub fn ask(&mut self, of: ThumbOf, goal: Goal) {
        self.queue.retain(|(o, _)| *o != of);
        if self.current.as_ref().is_some_and(|c| c.of == of) {
            self.drop_current();
        }
        // the concept's and the parts' (a few, asked by a click) before the circuit's inputs
        let at = match of {
            ThumbOf::Unit { .. } => self.queue.len(),
            _ => self
                .queue
                .iter()
                .position(|(o, _)| matches!(o, ThumbOf::Unit { .. }))
                .unwrap_or(self.queue.len()),
        };
        self.queue.insert(at, (of, goal));
        while self.queue.len() > QUEUE_MAX {
            // the oldest unit's goes first
            let oldest = self
                .queue
                .iter()
                .position(|(o, _)| matches!(o, ThumbOf::Unit { .. }))
                .unwrap_or(0);
            self.queue.remove(oldest);
        }
    }

    /// Whether there is one to make.
    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    fn drop_current(&mut self) {
        if let Some(c) = self.current.take() {
            let _ = self.opt.remove_run(c.id);
        }
    }

    /// Steps the thumbnails for `budget` with the window's method `settings`; a thumbnail that
    /// fails is said and dropped. Whether it did anything.
    pub fn step(&mut self, budget: Duration, settings: &OptimSettings, out: &mut Outlet) -> bool {
        let t0 = Instant::now();
        let mut did = false;
        while t0.elapsed() < budget && self.busy() {
            did = true;
            match self.step_once(settings) {
                Ok(events) => out.send_all(events),
                Err(e) => {
                    self.drop_current();
                    out.fail(Doing::Thumbnail, &e);
                }
            }
        }
        did
    }

    /// Starts the next thumbnail when none is forming, then one iteration; the picture when it
    /// is due or done.
    fn step_once(&mut self, settings: &OptimSettings) -> Result<Vec<Event>> {
        if self.current.is_none() {
            let Some((of, goal)) = self.queue.pop_front() else {
                return Ok(Vec::new());
            };
            let id = self.opt.add_run(config(goal, settings))?;
            self.current = Some(Current {
                of,
                id,
                last_sent: Instant::now(),
            });
        }
        let Some(id) = self.current.as_ref().map(|c| c.id) else {
            return Ok(Vec::new());
        };
        self.opt.step(1)?;
        let done = self.opt.status(id)?.stop.is_some();
        let Some(c) = self.current.as_mut() else {
            return Ok(Vec::new());
        };
        if !done && c.last_sent.elapsed() < THUMB_EVERY {
            return Ok(Vec::new());
        }
        c.last_sent = Instant::now();
        let image = crate::export::picture(&self.opt, &[id], Which::Best, 1)?;
        let event = Event::Thumbnail {
            of: c.of.clone(),
            image,
            done,
        };
        if done {
            self.drop_current();
        }
        Ok(vec![event])
    }
}

/// What a thumbnail maximizes: a unit's channel mean (before its ReLU where it has one, so a
/// unit silent on noise still has a gradient), or the concept's or a part's direction.
fn goal(of: &ThumbOf, concepts: &ConceptStage, model: &Model) -> Result<Goal> {
    let goal = match of {
        ThumbOf::Unit { layer, channel } => {
            let layer = model.optimizable(layer);
            let post = Objective::channel_mean(&model.info, layer, *channel)?;
            let pre = Objective {
                pre_relu: true,
                ..post.clone()
            };
            Goal::from(match pre.validate(&model.info) {
                Ok(_) => pre,
                Err(_) => post,
            })
        }
        ThumbOf::Concept | ThumbOf::Part(_) => {
            let (layer, vector) = concepts.direction(of).ok_or_else(|| {
                EngineError::ConceptLayer(match of {
                    ThumbOf::Part(j) => format!("the frame has no part {j} now"),
                    _ => "there is no concept yet: record and fit one first".to_string(),
                })
            })?;
            Goal {
                terms: vec![(
                    1.0,
                    Term::Direction {
                        layer,
                        vector,
                        at: None,
                    },
                )],
            }
        }
    };
    goal.validate(&model.info)?;
    Ok(goal)
}

/// A thumbnail's run: the window's method and its knobs, from its seeded noise, for at most
/// [`THUMB_ITERS`] iterations (the live view's "endless" aside). Under the paper's method the
/// Fourier method's defaults make it: the paper's pixels, tuned for one neuron at the centre
/// over hundreds of iterations, are still noise after [`THUMB_ITERS`] on a channel's mean.
fn config(goal: Goal, settings: &OptimSettings) -> RunConfig {
    let (mut params, method) = match settings.method.kind() {
        MethodKind::Paper => (
            Method::default_params(MethodKind::Fourier),
            MethodKind::Fourier.method(),
        ),
        _ => (settings.effective(), settings.method),
    };
    params.max_iter = params.max_iter.clamp(1, THUMB_ITERS);
    RunConfig {
        objective: goal,
        params,
        init: crate::runs::init(settings, None).0,
        method,
        images: 1,
    }
}
