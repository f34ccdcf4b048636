//! The key table: every binding once, drawn by the help overlay and looked up by [`on_key`].

use deepvis_protocol::{
    BackFilter, BackMode, ColorMap, Command, PlayerCommand, PreReluMode, RecordTarget,
};
use egui::Key;

use crate::DeepvisApp;

/// How a binding treats the shift key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Either way (held, it may change the step).
    Any,
    /// Held.
    With,
    /// Not held.
    Without,
}

/// What a key press does: the keys, the shift they ask for, and the action (given the key
/// pressed and whether shift was held).
#[derive(Clone, Copy)]
pub struct Press {
    /// The keys.
    pub keys: &'static [Key],
    /// Shift held or not.
    pub shift: Shift,
    /// The action.
    pub run: fn(&mut DeepvisApp, Key, bool),
}

impl Press {
    /// Whether `key` with or without shift is this press.
    pub fn matches(&self, key: Key, shift: bool) -> bool {
        let shift_ok = match self.shift {
            Shift::Any => true,
            Shift::With => shift,
            Shift::Without => !shift,
        };
        shift_ok && self.keys.contains(&key)
    }
}

/// One line of the help overlay: the keys or the gesture in words, what they do, and (keys
/// only) the press.
#[derive(Clone, Copy)]
pub struct Binding {
    /// The keys or the mouse gesture, as the help lists them.
    pub keys: &'static str,
    /// What they do.
    pub what: &'static str,
    /// The press (none: a mouse binding, drawn by its pane).
    pub press: Option<Press>,
}

const fn key(keys: &'static str, what: &'static str, on: &'static [Key], run: Run) -> Binding {
    Binding {
        keys,
        what,
        press: Some(Press {
            keys: on,
            shift: Shift::Any,
            run,
        }),
    }
}

const fn mouse(keys: &'static str, what: &'static str) -> Binding {
    Binding {
        keys,
        what,
        press: None,
    }
}

type Run = fn(&mut DeepvisApp, Key, bool);

/// Every key and mouse binding, in the help overlay's order.
pub const BINDINGS: [Binding; 23] = [
    key(
        "arrows / i j k l",
        "move the selection (shift: by 3)",
        &[
            Key::ArrowLeft,
            Key::ArrowRight,
            Key::ArrowUp,
            Key::ArrowDown,
            Key::I,
            Key::J,
            Key::K,
            Key::L,
        ],
        move_selection,
    ),
    key(
        "u / o",
        "previous / next layer",
        &[Key::U, Key::O],
        |a, k, _| a.step_layer(k == Key::O),
    ),
    key(
        "f",
        "freeze / unfreeze the input (a video: pause / play)",
        &[Key::F],
        |a, _, _| {
            let on = !a.frozen;
            a.freeze(on)
        },
    ),
    key(
        ", / .",
        "a video: one frame back / on",
        &[Key::Comma, Key::Period],
        step_clip,
    ),
    Binding {
        keys: "R (shift+r)",
        what: "record the window as an MP4 in ~/deepvis; again to stop",
        press: Some(Press {
            keys: &[Key::R],
            shift: Shift::With,
            run: |a, _, _| {
                let DeepvisApp { shared, panes, .. } = a;
                let player = &mut panes.frame.input.player;
                player.toggle_recording(shared, RecordTarget::Window)
            },
        }),
    },
    key(
        "space",
        "run / pause the preferred image",
        &[Key::Space],
        |a, _, _| {
            let on = !a.persisted.running;
            a.set_running(on)
        },
    ),
    Binding {
        keys: "r",
        what: "reset the preferred image",
        press: Some(Press {
            keys: &[Key::R],
            shift: Shift::Without,
            run: |a, _, _| a.send(Command::ResetOptim),
        }),
    },
    key(
        "1 2 3 4",
        "the paper's regularization presets",
        &[Key::Num1, Key::Num2, Key::Num3, Key::Num4],
        |a, k, _| {
            let n = match k {
                Key::Num1 => 1,
                Key::Num2 => 2,
                Key::Num3 => 3,
                _ => 4,
            };
            a.apply_preset(n)
        },
    ),
    key(
        "p",
        "pre-ReLU objective: off / on / auto",
        &[Key::P],
        |a, _, _| {
            let o = &mut a.persisted.optim;
            o.pre_relu = match o.pre_relu {
                PreReluMode::Off => PreReluMode::On,
                PreReluMode::On => PreReluMode::Auto,
                PreReluMode::Auto => PreReluMode::Off,
            };
            a.optim_changed();
        },
    ),
    key(
        "e / w",
        "next / previous file of a folder",
        &[Key::E, Key::W],
        |a, k, _| a.send(Command::StepFile(if k == Key::E { 1 } else { -1 })),
    ),
    key(
        "b",
        "attribution: off / grad / deconv / guided / Grad-CAM / Grad-CAM++ / occlusion / \
         SmoothGrad / integrated gradients",
        &[Key::B],
        |a, _, _| {
            let b = &mut a.persisted.back;
            b.mode = next_of(&BackMode::ALL, b.mode);
            a.back_changed();
        },
    ),
    key(
        "n",
        "attribution filter: raw / gray / norm / normblur",
        &[Key::N],
        |a, _, _| {
            let b = &mut a.persisted.back;
            b.filter = next_of(&BackFilter::ALL, b.filter);
            a.back_changed();
        },
    ),
    key(
        "m",
        "attribution colours: gray / diverging / sequential",
        &[Key::M],
        |a, _, _| {
            let b = &mut a.persisted.back;
            b.cmap = next_of(&ColorMap::ALL, b.cmap);
            a.back_changed();
        },
    ),
    key(
        "c",
        "compare every attribution method side by side",
        &[Key::C],
        |a, _, _| {
            let DeepvisApp { shared, panes, .. } = a;
            let view = &mut panes.frame.attribution;
            view.set_compare(!view.compare.on, shared);
        },
    ),
    key(
        "v",
        "blend the attribution maps over the input",
        &[Key::V],
        |a, _, _| a.persisted.overlay = !a.persisted.overlay,
    ),
    key("h", "show / hide this help", &[Key::H], |a, _, _| {
        a.show_help = !a.show_help
    }),
    mouse("click a tile", "select that unit"),
    mouse(
        "click the unit map",
        "project that position (right click: its maximum)",
    ),
    mouse("hover a tile", "its channel and maximum"),
    mouse(
        "hold g / G (shift+g)",
        "gather the frames shown as the concept's examples / as others (the concept pane)",
    ),
    mouse(
        "drop files",
        "show a photo, a video or a folder; an .onnx file opens that model; an exported \
         picture's .json restores its settings",
    ),
    mouse("drag the pane borders", "resize the panes"),
    key("esc", "close this help", &[Key::Escape], |a, _, _| {
        a.show_help = false
    }),
];

/// Handles one key press: the first binding of [`BINDINGS`] it matches.
pub fn on_key(app: &mut DeepvisApp, key: Key, shift: bool) {
    let press = BINDINGS
        .iter()
        .filter_map(|b| b.press)
        .find(|p| p.matches(key, shift));
    if let Some(p) = press {
        (p.run)(app, key, shift);
    }
}

/// Moves the selection through the tiles as they are shown (sorted or not), by 3 with shift;
/// up and down move by whole rows.
fn move_selection(app: &mut DeepvisApp, key: Key, shift: bool) {
    let step = if shift { 3 } else { 1 };
    let (slots, rows) = match key {
        Key::ArrowLeft | Key::J => (-step, 0),
        Key::ArrowRight | Key::L => (step, 0),
        Key::ArrowUp | Key::I => (0, -step),
        _ => (0, step),
    };
    let grid = &app.panes.grid;
    let next = match (&grid.drawn, &grid.grid) {
        (Some(d), _) => d.order.first().and_then(|&first| {
            let cur = app.persisted.selected.unwrap_or(first);
            d.step(cur, slots + rows * d.cols as i64)
        }),
        (None, Some(g)) if !g.maxima.is_empty() => {
            let cur = app.persisted.selected.unwrap_or(0) as i64;
            let d = slots + rows * g.cols as i64;
            Some((cur + d).clamp(0, g.maxima.len() as i64 - 1) as usize)
        }
        _ => None,
    };
    if let Some(c) = next {
        app.select_unit(c);
    }
}

/// A clip one frame back (`,`) or on (`.`); nothing when the source is no clip.
fn step_clip(app: &mut DeepvisApp, key: Key, _shift: bool) {
    if app.playback.is_some() {
        let d = if key == Key::Comma { -1 } else { 1 };
        app.send(Command::Player(PlayerCommand::Step(d)));
    }
}

/// The value after `cur` in `all`, wrapping.
fn next_of<T: Copy + PartialEq>(all: &[T], cur: T) -> T {
    let i = all.iter().position(|x| *x == cur).unwrap_or(0);
    all[(i + 1) % all.len()]
}
