//! What a pane is ([`Pane`]), where it goes ([`Place`]), and the macro of the pane registry.

use deepvis_protocol::{Command, Event};

use crate::Shared;

/// Where the window puts a pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The bar across the top.
    Top,
    /// The status bar across the bottom.
    Bottom,
    /// The resizable panel on the left (the frame side), top to bottom in registry order.
    Left,
    /// The resizable panel on the right (the preferred-image side).
    Right,
    /// The rest of the window.
    Center,
    /// Over the others (a window of its own).
    Overlay,
}

/// A pane (egui's demo `View`): a struct that owns its state, takes the worker's events and the
/// window's commands that concern it, and draws itself from that and the [`Shared`] state.
pub trait Pane {
    /// Its name for screen readers and tests (the window names the pane's region so).
    fn name(&self) -> &'static str;

    /// Where it goes.
    fn place(&self) -> Place;

    /// Takes an event of the worker (after [`Shared`] took its part).
    fn apply(&mut self, _e: &Event, _shared: &mut Shared) {}

    /// Sees a command the window sent (a pane forgets what belonged to another unit here).
    fn seen(&mut self, _c: &Command) {}

    /// Runs each frame before anything is drawn, folded or not (uploads its pictures).
    fn prepare(&mut self, _ctx: &egui::Context, _shared: &mut Shared) {}

    /// Draws it.
    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared);
}

/// Declares the pane modules and `Panes`: one field per pane (named as its module), and the
/// list the window routes events to and draws, each where its [`Pane::place`] says, in this
/// order. Invoked once, in `lib.rs`: adding a pane is its file and one line there.
macro_rules! registry {
    ($($(#[$doc:meta])* $module:ident::$ty:ident,)*) => {
        $(pub mod $module;)*

        /// Every pane of the window, each owning its state.
        #[derive(Default)]
        pub struct Panes {
            $($(#[$doc])* pub $module: $module::$ty,)*
        }

        impl Panes {
            /// How many there are.
            pub const COUNT: usize = [$(stringify!($module)),*].len();

            /// Every pane, in registry order.
            pub fn all(&self) -> [&dyn Pane; Self::COUNT] {
                [$(&self.$module),*]
            }

            /// Every pane, in registry order, to change.
            pub fn all_mut(&mut self) -> [&mut dyn Pane; Self::COUNT] {
                [$(&mut self.$module),*]
            }
        }
    };
}

pub(crate) use registry;

/// Draws `add` in a region named `name` for screen readers (it looks the same).
pub(crate) fn labelled<R>(
    ui: &mut egui::Ui,
    name: &str,
    add: impl FnOnce(&mut egui::Ui) -> R,
) -> R {
    let builder = egui::UiBuilder::new()
        .accessibility_label(name)
        .accessibility_role(egui::accesskit::Role::Group);
    ui.scope_builder(builder, add).inner
}
