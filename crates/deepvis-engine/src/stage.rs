//! What a stage is handed when it carries out a command ([`Cx`]: the network, the events'
//! outlet, the kept settings), and its answer ([`Took`]: done, with what it asks the worker to
//! do next, [`Ripple`], the effects on the other stages; or not its command).

use std::sync::Mutex;

use deepvis_protocol::Command;

use crate::EngineConfig;
use crate::device::Model;
use crate::outlet::Outlet;

/// The settings a restarted worker starts from: written when they change, read once at start.
pub(crate) struct Keep<'a>(pub(crate) &'a Mutex<EngineConfig>);

impl Keep<'_> {
    /// The settings as they stand (one copy, at start).
    pub fn get(&self) -> EngineConfig {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes them.
    pub fn update(&self, f: impl FnOnce(&mut EngineConfig)) {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// What a stage works with while it carries out a command.
pub(crate) struct Cx<'c, 'a> {
    /// The network.
    pub model: &'c Model,
    /// Where its events and errors go.
    pub out: &'c mut Outlet<'a>,
    /// The settings a restarted worker starts from (a stage writes what it changed).
    pub keep: &'c Keep<'a>,
}

/// A stage's answer to a command: carried out, with what it asks of the other stages; or not
/// one of its own, handed back for the next stage (the loop offers a command to each stage in
/// turn: a stage names its commands in its own `command` and nowhere else).
#[derive(Debug)]
// the command is handed on by value, a move per stage: boxing it would allocate per command
#[allow(clippy::large_enum_variant)]
pub(crate) enum Took {
    /// Carried out.
    Done(Ripple),
    /// Not this stage's.
    Passed(Command),
}

/// What the other stages do after a command: the worker carries it out, so that no stage
/// reaches into another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ripple {
    /// The grid layer or the selected unit changed: everything that shows the unit starts
    /// over (the kept settings follow, the attribution resets, the preferred image restarts).
    pub selection: bool,
    /// The current frame is processed again (the unit's map and the pane's maps).
    pub reprocess: bool,
    /// The attribution pane gets a turn now, whatever its spacing.
    pub attribute_now: bool,
    /// The preferred image starts again from its start image.
    pub restart_preferred: bool,
}

impl Ripple {
    /// Nothing else changes.
    pub const NONE: Ripple = Ripple {
        selection: false,
        reprocess: false,
        attribute_now: false,
        restart_preferred: false,
    };
}
