//! The window at the screen sizes people use: the grid fills its pane, the preferred image and
//! its plot are visible without scrolling, nothing overlaps; the activity views (sorting, silent
//! channels, the sparkline, the hover card) on fake frames.

use deepvis_protocol::{Backend, Event, LayerSummary, Outbox, Telemetry, UnitMap};
use deepvis_ui::{DeepvisApp, GridFit, Persisted, SortMode};
use egui::Rect;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn layers() -> Vec<LayerSummary> {
    vec![LayerSummary {
        name: "fire9".into(),
        channels: 16,
        height: 5,
        width: 5,
        relu: true,
        attention: false,
        gelu: false,
    }]
}

/// A 16-channel grid of 5x5 tiles whose channel `c` has maximum `maxima[c]` (gray 10 * c).
fn grid(maxima: Vec<f32>) -> Event {
    layer_grid(maxima, 5)
}

/// A grid of `maxima.len()` tiles of `side` x `side` (a pattern of gray).
fn layer_grid(maxima: Vec<f32>, side: usize) -> Event {
    let n = maxima.len();
    let layout = deepvis_viz::GridLayout::new(n, side, side, 1);
    let mut img = image::GrayImage::new(layout.width() as u32, layout.height() as u32);
    for c in 0..n {
        let (ox, oy) = layout.origin(c);
        for y in 0..side {
            for x in 0..side {
                let v = ((c * 10 + x * 12 + y * 3) % 256) as u8;
                img.put_pixel((ox + x) as u32, (oy + y) as u32, image::Luma([v]));
            }
        }
    }
    Event::Grid {
        layer: "fire9".into(),
        image: img,
        cols: layout.cols,
        rows: layout.rows,
        tile_w: side,
        tile_h: side,
        maxima,
    }
}

fn picture(side: u32) -> image::RgbImage {
    image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x * 255 / side) as u8, (y * 255 / side) as u8, 128])
    })
}

/// A window of `size` points at `ppp` pixels per point with a selected unit, its map, a
/// preferred image and a running plot.
fn window(size: [f32; 2], ppp: f32) -> (Harness<'static, DeepvisApp>, Outbox) {
    themed(size, ppp, egui::Theme::Dark)
}

/// [`window`] in a theme.
fn themed(size: [f32; 2], ppp: f32, theme: egui::Theme) -> (Harness<'static, DeepvisApp>, Outbox) {
    fitted(size, ppp, theme, GridFit::default())
}

/// [`window`] in a theme, its grid fitted so.
fn fitted(
    size: [f32; 2],
    ppp: f32,
    theme: egui::Theme,
    grid_fit: GridFit,
) -> (Harness<'static, DeepvisApp>, Outbox) {
    let (ctx, _crx) = crossbeam_channel::unbounded();
    let (tx, rx) = deepvis_protocol::queue();
    let app = DeepvisApp::new(
        ctx,
        rx,
        Persisted {
            layer: Some("fire9".into()),
            selected: Some(5),
            grid_fit,
            ..Persisted::default()
        },
    );
    let send = |e: Event| tx.send(e).expect("send");
    send(Event::Ready {
        model: "squeezenet1_0".into(),
        backend: Backend {
            serving: "cpu (test)".into(),
            warming: None,
        },
        layers: layers(),
        grid_layer: "fire9".into(),
    });
    send(Event::Input(picture(227)));
    send(grid((0..16).map(|c| c as f32).collect()));
    send(Event::UnitMap(UnitMap {
        channel: 5,
        values: (0..25).map(|i| i as f32).collect(),
        width: 5,
        height: 5,
        argmax: (4, 4),
        field: [0, 0, 227, 227],
    }));
    send(Event::Preferred {
        layer: "fire9".into(),
        channel: 5,
        image: picture(227),
        transparency: None,
        captions: Vec::new(),
        iteration: 40,
        objective: 12.5,
        activation: 12.5,
        mode: deepvis_protocol::RunMode::Asked {
            pre_relu: false,
            start: deepvis_protocol::StartFrom::Noise,
        },
    });
    let point = |iter: usize| Telemetry {
        run: 0,
        iter,
        obj: iter as f32,
        act: iter as f32,
        lr: Some(100.0),
        grad_norm: 10.0,
        is_argmax: iter > 20,
    };
    send(Event::Telemetry {
        run: 1,
        points: (0..40).map(point).collect(),
    });
    let mut h = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(ppp)
        .with_theme(theme)
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    // hover cards show at once
    h.ctx.all_styles_mut(|s| s.interaction.tooltip_delay = 0.0);
    h.run_steps(4);
    (h, tx)
}

fn inside(outer: Rect, inner: Rect) -> bool {
    outer.expand(0.5).contains_rect(inner)
}

#[test]
fn the_layout_fills_the_screen_at_1280x800_and_1920x1080() {
    let sizes = [
        ([1280.0, 800.0], 1.0),
        ([1920.0, 1080.0], 1.0),
        ([1280.0, 800.0], 2.0),
    ];
    for ((size, ppp), fit) in sizes.into_iter().flat_map(|s| GridFit::ALL.map(|f| (s, f))) {
        let (h, _tx) = fitted(size, ppp, egui::Theme::Dark, fit);
        let screen = Rect::from_min_size(egui::Pos2::ZERO, size.into());
        let what = format!("{}x{} at {ppp}x, {fit:?}", size[0], size[1]);
        // the grid's tiles are at least 3x their 5x5 maps, and whole pixels per map pixel
        let d = h
            .state()
            .panes
            .grid
            .drawn
            .clone()
            .expect("the grid was drawn");
        assert!(d.tile.x >= 15.0, "{what}: tiles of {} points", d.tile.x);
        let px = d.scale * ppp;
        if fit == GridFit::Crisp {
            assert_eq!(px, px.round(), "{what}: {px} pixels per map pixel");
        }
        // every tile is inside the grid's rectangle, and the grid fills most of its pane
        let grid = h.get_by_label("layer grid").rect();
        for c in 0..16 {
            let r = d.tile_rect(c).expect("a tile");
            assert!(inside(grid, r), "{what}: tile {c} {r:?} outside {grid:?}");
        }
        // the essentials are fully on screen, unscrolled
        let names = [
            "input frame",
            "back-projection",
            "unit map",
            "activity sparkline",
            "layer grid",
            "preferred image view",
            "objective plot",
        ];
        let rects: Vec<(&str, Rect)> = names
            .iter()
            .map(|n| (*n, h.get_by_label(n).rect()))
            .collect();
        for (n, r) in &rects {
            assert!(inside(screen, *r), "{what}: {n} {r:?} is not on the screen");
        }
        // nothing overlaps
        for (i, (a, ra)) in rects.iter().enumerate() {
            for (b, rb) in &rects[i + 1..] {
                assert!(
                    !ra.shrink(0.5).intersects(rb.shrink(0.5)),
                    "{what}: {a} {ra:?} overlaps {b} {rb:?}"
                );
            }
        }
        // the preferred image and the plot keep a useful size
        let pref = rects[5].1;
        assert!(pref.width() >= 250.0, "{what}: preferred image {pref:?}");
        let plot = rects[6].1;
        assert!(plot.height() >= 100.0, "{what}: plot {plot:?}");
    }
}

/// The whole window at `size`, its status bar (the UI's own varying frame time) masked.
fn snapshot(size: [f32; 2], theme: egui::Theme, name: &str) {
    let (mut h, _tx) = themed(size, 1.0, theme);
    h.mask(Rect::from_min_max(
        egui::pos2(0.0, size[1] - 40.0),
        egui::pos2(size[0], size[1]),
    ));
    h.snapshot(name);
}

#[test]
fn snapshot_at_1280x800() {
    snapshot([1280.0, 800.0], egui::Theme::Dark, "layout_1280x800");
}

#[test]
fn snapshot_in_the_light_theme() {
    snapshot([1280.0, 800.0], egui::Theme::Light, "layout_1280x800_light");
}

#[test]
fn snapshot_at_1920x1080() {
    snapshot([1920.0, 1080.0], egui::Theme::Dark, "layout_1920x1080");
}

#[test]
fn sorting_puts_the_most_active_channel_first_and_keys_follow_the_order() {
    let (mut h, tx) = window([1280.0, 800.0], 1.0);
    // channel 9 is the most active now, channel 2 over the recent frames
    let mut now: Vec<f32> = vec![1.0; 16];
    now[2] = 50.0;
    for _ in 0..5 {
        tx.send(grid(now.clone())).expect("send");
        h.run_steps(1);
    }
    now[2] = 1.0;
    now[9] = 60.0;
    tx.send(grid(now)).expect("send");
    h.run_steps(2);
    let order =
        |h: &Harness<'static, DeepvisApp>| h.state().panes.grid.drawn.clone().expect("drawn").order;
    assert_eq!(order(&h)[0], 0, "channel order by default");
    h.state_mut().persisted.grid_sort = SortMode::Now;
    h.run_steps(2);
    assert_eq!(order(&h)[0], 9);
    h.state_mut().persisted.grid_sort = SortMode::Recent;
    h.run_steps(2);
    assert_eq!(&order(&h)[..2], &[2, 9]);
    // the first tile shown is channel 2: hovering it says so
    let d = h.state().panes.grid.drawn.clone().expect("drawn");
    h.hover_at(d.slot_rect(0).center());
    h.run_steps(2);
    assert_eq!(h.state().panes.grid.hover.map(|x| x.0), Some(2));
    assert!(h.query_by_label_contains("mean max over 10 s").is_some());
    // the right arrow moves to the next tile as shown (channel 9), not to channel 6
    h.state_mut().persisted.selected = Some(2);
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(1);
    assert_eq!(h.state().persisted.selected, Some(9));
}

#[test]
fn a_channel_silent_on_every_frame_is_marked() {
    let (mut h, tx) = window([1280.0, 800.0], 1.0);
    // channel 0 was 0 on the first frame too and stays so; channel 11 wakes up once
    let mut m: Vec<f32> = (0..16).map(|c| c as f32 + 1.0).collect();
    m[0] = 0.0;
    for k in 0..6 {
        m[11] = if k == 4 { 2.0 } else { 0.0 };
        tx.send(grid(m.clone())).expect("send");
        h.run_steps(1);
    }
    h.run_steps(1);
    let a = &h.state().activity;
    assert!(a.silent(0) && !a.silent(11) && !a.silent(3));
    assert!(h.query_by_label("1 silent").is_some());
    let r = h
        .state()
        .panes
        .grid
        .drawn
        .clone()
        .expect("drawn")
        .tile_rect(0)
        .expect("tile");
    h.hover_at(r.center());
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("silent on every frame so far")
            .is_some()
    );
}

#[test]
fn the_sparkline_gets_one_point_per_frame() {
    let (mut h, tx) = window([1280.0, 800.0], 1.0);
    let before = h.state().activity.series(5).len();
    assert_eq!(before, 1);
    for k in 0..7 {
        let mut m: Vec<f32> = vec![1.0; 16];
        m[5] = k as f32;
        tx.send(grid(m)).expect("send");
        h.run_steps(1);
    }
    let s = h.state().activity.series(5);
    assert_eq!(s.len(), 8);
    assert_eq!(s.last().map(|p| p[1]), Some(6.0));
    assert!(
        h.query_by_label_contains("max over the last 30 s: now 6.000")
            .is_some()
    );
}

#[test]
fn ctrl_wheel_zooms_the_grid_and_the_tile_size_fits_again() {
    let (mut h, _tx) = window([1280.0, 800.0], 1.0);
    let fit = h.state().panes.grid.drawn.clone().expect("drawn").scale;
    let center = h.get_by_label("layer grid").rect().center();
    h.hover_at(center);
    h.event(egui::Event::Zoom(1.25));
    h.run_steps(2);
    let zoom = h.state().persisted.grid_zoom.expect("a fixed zoom");
    assert!(zoom as f32 > fit, "zoomed in from {fit} to {zoom}");
    let d = h.state().panes.grid.drawn.clone().expect("drawn");
    assert_eq!(d.scale, zoom as f32);
    // the larger tiles no longer fit: the grid scrolls, and still hit-tests
    let grid = h.get_by_label("layer grid").rect();
    assert!(grid.height() > 800.0 || grid.width() > 1280.0 || d.cols < 4);
    // dragging the tiles pans them
    let before = h.state().panes.grid.drawn.clone().expect("drawn").origin;
    let at = |y: f32| egui::pos2(center.x, y);
    h.event(egui::Event::PointerMoved(at(center.y)));
    h.event(egui::Event::PointerButton {
        pos: at(center.y),
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(1);
    for k in 1..=10 {
        h.event(egui::Event::PointerMoved(at(center.y - 15.0 * k as f32)));
        h.run_steps(1);
    }
    h.event(egui::Event::PointerButton {
        pos: at(center.y - 150.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(3);
    let after = h.state().panes.grid.drawn.clone().expect("drawn").origin;
    assert!(
        after.y < before.y - 50.0,
        "panned from {before:?} to {after:?}"
    );
    h.state_mut().persisted.grid_zoom = None;
    h.run_steps(2);
    assert_eq!(
        h.state().panes.grid.drawn.clone().expect("drawn").scale,
        fit
    );
}

/// fire9's 512 maps of 13x13 at 1280x800: "fill" (the default) covers the pane's limiting side
/// with tiles as large as fit; "crisp" keeps whole pixels per map pixel (1 here, about half
/// the pane).
#[test]
fn fill_covers_the_pane_at_1280x800_and_crisp_keeps_whole_pixels() {
    let filled = |fit: GridFit, ppp: f32| {
        let (mut h, tx) = fitted([1280.0, 800.0], ppp, egui::Theme::Dark, fit);
        tx.send(layer_grid((0..512).map(|c| c as f32).collect(), 13))
            .expect("send");
        h.run_steps(3);
        let d = h.state().panes.grid.drawn.clone().expect("drawn");
        assert_eq!(d.order.len(), 512);
        let grid = h.get_by_label("layer grid").rect();
        let content = d.content();
        assert!(
            (grid.size() - content).length() < 1.0,
            "{grid:?} {content:?}"
        );
        let share = (content.x / d.room.x).max(content.y / d.room.y);
        (d.scale * ppp, share)
    };
    assert_eq!(Persisted::default().grid_fit, GridFit::Fill);
    for ppp in [1.0, 2.0] {
        let (px, share) = filled(GridFit::Fill, ppp);
        assert!(share >= 0.85, "fill at {ppp}x covers {share} of the pane");
        assert!(share <= 1.0 + 1e-3, "fill at {ppp}x overflows: {share}");
        assert!(px > 1.0, "fill at {ppp}x: {px} pixels per map pixel");
        let (px, share) = filled(GridFit::Crisp, ppp);
        assert_eq!(px, px.round(), "crisp at {ppp}x: {px} pixels per map pixel");
        assert!(share <= 1.0 + 1e-3, "crisp at {ppp}x overflows: {share}");
    }
}

/// Settings saved before "fill" existed load, and fit by filling.
#[test]
fn older_settings_load_and_fill() {
    let mut v = serde_json::to_value(Persisted::default()).expect("json");
    v.as_object_mut().expect("an object").remove("grid_fit");
    let p: Persisted = serde_json::from_value(v).expect("older settings load");
    assert_eq!(p.grid_fit, GridFit::Fill);
    assert_eq!(p, Persisted::default());
}
