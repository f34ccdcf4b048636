//! The atlas's pages, written from its settings and unit records alone (no model, no clock):
//! the same records give the same bytes, whichever run or merge wrote them. Plain HTML, one
//! style sheet and a little plain JavaScript (the layer page's sorting and filtering); no
//! server, no build step, opens from the file system.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use deepvis_topk::{safe_file_name, write_atomic};

use super::record::{AtlasSpec, CircuitRecord, LayerRow, StatsRecord, UnitRecord, layer_records};

/// The style sheet.
const CSS: &str = include_str!("atlas.css");
/// The layer page's sorting and filtering.
const JS: &str = include_str!("atlas.js");

/// Text made safe inside HTML (and its attributes).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A relative path made safe in an `href` or `src` (each segment percent-encoded).
fn url(rel: &str) -> String {
    let mut o = String::new();
    for b in rel.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                o.push(b as char)
            }
            b => {
                let _ = write!(o, "%{b:02X}");
            }
        }
    }
    o
}

/// A page: its head (title, style sheet at `root`) and body.
fn page(title: &str, root: &str, body: &str, script: bool) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"{root}atlas.css\">\n{}</head>\n\
         <body>\n{body}</body>\n</html>\n",
        esc(title),
        if script {
            format!("<script src=\"{root}atlas.js\" defer></script>\n")
        } else {
            String::new()
        }
    )
}

/// A layer's folder, relative to the site.
pub fn layer_dir(layer: &str) -> String {
    format!("layers/{}", safe_file_name(layer))
}

/// Writes every page, the style sheet and the script; the number of pages.
pub fn write(site: &Path, spec: &AtlasSpec) -> Result<usize> {
    let put = |rel: &str, text: &str| -> Result<()> {
        let p = site.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        write_atomic(&p, text.as_bytes())?;
        Ok(())
    };
    put("atlas.css", CSS)?;
    put("atlas.js", JS)?;
    let mut mapped = Vec::new();
    for layer in &spec.layers {
        let records = layer_records(site, &layer.name)?;
        if !records.is_empty() {
            mapped.push((layer, records));
        }
    }
    put("index.html", &model_page(spec, &mapped))?;
    // every unit with a page, for the circuits' links
    let units: Vec<(String, usize)> = mapped
        .iter()
        .flat_map(|(l, recs)| recs.iter().map(|r| (l.name.clone(), r.unit)))
        .collect();
    let mut pages = 1;
    for (layer, records) in &mapped {
        let dir = layer_dir(&layer.name);
        put(
            &format!("{dir}/index.html"),
            &layer_page(spec, layer, records),
        )?;
        pages += 1;
        for (i, r) in records.iter().enumerate() {
            let near = Near {
                prev: i.checked_sub(1).and_then(|j| records.get(j)),
                next: records.get(i + 1),
                around: &records[i.saturating_sub(4)..(i + 5).min(records.len())],
            };
            put(
                &format!("{dir}/u{:04}.html", r.unit),
                &unit_page(spec, layer, r, &near, &units),
            )?;
            pages += 1;
        }
    }
    Ok(pages)
}

/// The model page: the settings, and every layer with its shape and receptive field, linked
/// where the atlas maps it.
fn model_page(spec: &AtlasSpec, mapped: &[(&LayerRow, Vec<UnitRecord>)]) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<header><h1>{}</h1><p>An atlas made by {}: every unit's preferred image ({}), \
         {}. Input {}x{} pixels; made on {}{}.</p></header>\n<main>\n",
        esc(&spec.model),
        esc(&spec.app),
        esc(&methods_text(spec)),
        match &spec.folder {
            Some(f) => format!(
                "its top {} images of <code>{}</code> with their back-projections, its \
                 statistics over them",
                spec.k,
                esc(&f.display().to_string())
            ),
            None => "no folder was scanned".to_string(),
        },
        spec.input,
        spec.input,
        esc(&spec.backend),
        spec.model_sha256
            .as_ref()
            .map(|s| format!("; model sha256 <code>{}</code>", esc(s)))
            .unwrap_or_default()
    );
    if !mapped.is_empty() {
        b.push_str("<h2>Mapped layers</h2>\n<ul class=\"mapped\">\n");
        for (l, recs) in mapped {
            let _ = writeln!(
                b,
                "<li><a href=\"{}/index.html\">{}</a>: {} of {} units</li>",
                url(&layer_dir(&l.name)),
                esc(&l.name),
                recs.len(),
                l.channels
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str(
        "<h2>Layers</h2>\n<table class=\"layers\">\n<thead><tr><th>layer</th><th>op</th>\
         <th>channels</th><th>map</th><th>receptive field</th></tr></thead>\n<tbody>\n",
    );
    for l in &spec.layers {
        let linked = mapped.iter().any(|(m, _)| m.name == l.name);
        let name = if linked {
            format!(
                "<a href=\"{}/index.html\">{}</a>",
                url(&layer_dir(&l.name)),
                esc(&l.name)
            )
        } else {
            esc(&l.name)
        };
        let _ = writeln!(
            b,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}x{}</td><td>{}x{}</td></tr>",
            esc(&l.kind),
            l.channels,
            l.height,
            l.width,
            l.field[2] - l.field[0],
            l.field[3] - l.field[1]
        );
    }
    b.push_str("</tbody>\n</table>\n</main>\n");
    page(&format!("{}: atlas", spec.model), "", &b, false)
}

fn methods_text(spec: &AtlasSpec) -> String {
    let names: Vec<&str> = spec.methods.iter().map(|m| m.label()).collect();
    format!(
        "{}; {}, seed {}",
        names.join(", "),
        match spec.iters {
            Some(n) => format!("{n} iterations"),
            None => "each method's iterations".into(),
        },
        spec.seed
    )
}

/// The layer page: every unit as a thumbnail, sortable and filterable.
fn layer_page(spec: &AtlasSpec, layer: &LayerRow, records: &[UnitRecord]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header><nav><a href=\"../../index.html\">{}</a> &rsaquo; {}</nav>\
         <h1>{}</h1><p>{} {} units of {}, maps {}x{}, each unit's receptive field {}x{} \
         pixels; the pictures: {}.</p></header>",
        esc(&spec.model),
        esc(&layer.name),
        esc(&layer.name),
        esc(&layer.kind),
        records.len(),
        layer.channels,
        layer.height,
        layer.width,
        layer.field[2] - layer.field[0],
        layer.field[3] - layer.field[1],
        esc(&methods_text(spec))
    );
    let has_stats = records.iter().any(|r| r.stats.is_some());
    b.push_str("<form class=\"controls\" id=\"controls\">\n<label>sort by <select id=\"sort\">\n");
    b.push_str("<option value=\"unit\">unit</option>\n");
    if has_stats {
        b.push_str(
            "<option value=\"mean\">mean activation</option>\n\
             <option value=\"max\">max activation</option>\n\
             <option value=\"silent\">silence</option>\n",
        );
    }
    b.push_str("<option value=\"label\">its picture's top class</option>\n</select></label>\n");
    b.push_str(
        "<label>search <input id=\"search\" type=\"search\" \
         placeholder=\"unit number or class\"></label>\n",
    );
    if has_stats {
        b.push_str("<label><input id=\"hide-silent\" type=\"checkbox\"> hide units silent on every image</label>\n");
    }
    b.push_str("<span id=\"count\"></span>\n</form>\n<main class=\"grid\" id=\"grid\">\n");
    for r in records {
        let thumb = r.pictures.iter().find_map(|p| p.png.as_deref());
        let label = r.label().map(|c| c.label.as_str()).unwrap_or("");
        let (mean, max, silent) = r
            .stats
            .as_ref()
            .map_or((0.0, 0.0, 0.0), |s| (s.mean, s.max, s.silent));
        let _ = write!(
            b,
            "<a class=\"card\" href=\"u{:04}.html\" data-unit=\"{}\" data-mean=\"{mean}\" \
             data-max=\"{max}\" data-silent=\"{silent}\" data-label=\"{}\">",
            r.unit,
            r.unit,
            esc(label)
        );
        match thumb {
            Some(t) => {
                let _ = write!(
                    b,
                    "<img loading=\"lazy\" src=\"{}\" width=\"128\" height=\"128\" alt=\"unit {}\">",
                    url(&rel_to_layer(t)),
                    r.unit
                );
            }
            None => b.push_str("<span class=\"none\">no picture</span>"),
        }
        let _ = writeln!(
            b,
            "<span class=\"caption\"><b>{}</b> {}</span></a>",
            r.unit,
            esc(label)
        );
    }
    b.push_str("</main>\n");
    page(
        &format!("{} {}", spec.model, layer.name),
        "../../",
        &b,
        true,
    )
}

/// A path relative to the site, made relative to a layer's folder (`layers/L/u0001/x.png`
/// to `u0001/x.png`).
fn rel_to_layer(rel: &str) -> String {
    rel.splitn(3, '/').nth(2).unwrap_or(rel).to_string()
}

/// A unit's neighbours in its layer's atlas.
struct Near<'a> {
    prev: Option<&'a UnitRecord>,
    next: Option<&'a UnitRecord>,
    around: &'a [UnitRecord],
}

/// A unit's page.
fn unit_page(
    spec: &AtlasSpec,
    layer: &LayerRow,
    r: &UnitRecord,
    near: &Near,
    mapped: &[(String, usize)],
) -> String {
    let mut b = String::new();
    let link = |o: Option<&UnitRecord>, text: &str| match o {
        Some(u) => format!(
            "<a href=\"u{:04}.html\">{text} (unit {})</a>",
            u.unit, u.unit
        ),
        None => String::new(),
    };
    let _ = writeln!(
        b,
        "<header><nav><a href=\"../../index.html\">{}</a> &rsaquo; \
         <a href=\"index.html\">{}</a> &rsaquo; unit {} <span class=\"step\">{} {}</span></nav>\
         <h1>{} unit {}</h1></header>\n<main>",
        esc(&spec.model),
        esc(&layer.name),
        r.unit,
        link(near.prev, "&lsaquo; previous"),
        link(near.next, "next &rsaquo;"),
        esc(&layer.name),
        r.unit
    );
    pictures(&mut b, spec, r);
    crops(&mut b, spec, r);
    if let Some(s) = &r.stats {
        b.push_str("<section><h2>Activation over the folder</h2>\n");
        let _ = writeln!(
            b,
            "<p>{} images: mean of its maximum {:.3}, mean {:.3}, largest {:.3}; silent on \
             {:.0}% of them.</p>",
            s.images,
            s.mean_max,
            s.mean,
            s.max,
            s.silent * 100.0
        );
        b.push_str(&histogram(s));
        b.push_str("</section>\n");
    }
    if let Some(c) = &r.circuit {
        circuit(&mut b, c, mapped);
    }
    neighbours(&mut b, r, near);
    b.push_str("</main>\n");
    page(
        &format!("{} {} unit {}", spec.model, layer.name, r.unit),
        "../../",
        &b,
        false,
    )
}

/// A unit page's pictures, each with its sidecar and the classes the model sees in it.
fn pictures(b: &mut String, spec: &AtlasSpec, r: &UnitRecord) {
    b.push_str("<section><h2>Preferred images</h2>\n<div class=\"pictures\">\n");
    for p in &r.pictures {
        b.push_str("<figure>");
        match (&p.png, &p.sidecar) {
            (Some(png), Some(json)) => {
                let _ = write!(
                    b,
                    "<img loading=\"lazy\" src=\"{}\" width=\"{s}\" height=\"{s}\" alt=\"{} picture\">\
                     <figcaption><b>{}</b>: objective {} after {} iterations{}.<br>\
                     <a href=\"{}\">sidecar</a>: <code>deepvis optimize --from {}</code>",
                    url(&rel_to_layer(png)),
                    p.method.as_str(),
                    esc(p.method.label()),
                    p.best_obj.map_or("-".into(), |v| format!("{v:.3}")),
                    p.iterations,
                    if p.pre_relu {
                        " (the unit fell silent: the run went on with its value before the ReLU)"
                    } else {
                        ""
                    },
                    url(&rel_to_layer(json)),
                    esc(json),
                    s = spec.input.min(256),
                );
                if !p.classes.is_empty() {
                    b.push_str("<br>the model sees: ");
                    let cs: Vec<String> = p
                        .classes
                        .iter()
                        .map(|c| format!("{} {:.1}%", esc(&c.label), c.prob * 100.0))
                        .collect();
                    b.push_str(&cs.join(", "));
                }
                b.push_str("</figcaption>");
            }
            _ => {
                let _ = write!(
                    b,
                    "<div class=\"none\">no picture</div><figcaption><b>{}</b>: {}</figcaption>",
                    esc(p.method.label()),
                    esc(p.failure.as_deref().unwrap_or("not made"))
                );
            }
        }
        b.push_str("</figure>\n");
    }
    b.push_str("</div>\n</section>\n");
}

/// A unit page's top images: each crop beside its back-projection.
fn crops(b: &mut String, spec: &AtlasSpec, r: &UnitRecord) {
    if r.crops.is_empty() {
        return;
    }
    let _ = writeln!(
        b,
        "<section><h2>Top {} images</h2>\n<p>Where the unit responds most in the scanned \
         folder: the crop of its receptive field at its maximum, and the deconvolution of \
         the unit back onto it.</p>\n<div class=\"crops\">",
        r.crops.len()
    );
    for c in &r.crops {
        let _ = write!(
            b,
            "<figure><img loading=\"lazy\" src=\"{}\" width=\"{t}\" height=\"{t}\" alt=\"crop\">",
            url(&rel_to_layer(&c.crop)),
            t = spec.tile
        );
        if let Some(back) = &c.back {
            let _ = write!(
                b,
                "<img loading=\"lazy\" src=\"{}\" width=\"{t}\" height=\"{t}\" alt=\"back-projection\">",
                url(&rel_to_layer(back)),
                t = spec.tile
            );
        }
        let _ = writeln!(
            b,
            "<figcaption>{} <span class=\"score\">{:.2} at ({}, {})</span></figcaption></figure>",
            esc(&c.file),
            c.score,
            c.y,
            c.x
        );
    }
    b.push_str("</div>\n</section>\n");
}

/// A unit page's circuit: its strongest inputs in the layer below by weight, each a link to
/// that unit's page where the atlas has it.
fn circuit(b: &mut String, c: &CircuitRecord, mapped: &[(String, usize)]) {
    let _ = writeln!(
        b,
        "<section><h2>Its circuit</h2>\n<p>Its strongest inputs in {} by weight (the sum of the \
         expanded kernel of the path between them; `deepvis circuit` lists them on a picture \
         too).</p>",
        esc(&c.below)
    );
    for (what, list) in [("excite it", &c.excite), ("inhibit it", &c.inhibit)] {
        let items: Vec<String> = list
            .iter()
            .map(|&(ch, v)| {
                let text = format!("{ch} ({v:+.3})");
                if mapped.iter().any(|(l, u)| *l == c.below && *u == ch) {
                    format!(
                        "<a href=\"../{}/u{ch:04}.html\">{text}</a>",
                        url(&deepvis_topk::safe_file_name(&c.below))
                    )
                } else {
                    text
                }
            })
            .collect();
        let _ = writeln!(b, "<p>{what}: {}</p>", items.join(", "));
    }
    b.push_str("</section>\n");
}

/// A unit page's neighbours in its layer, itself among them.
fn neighbours(b: &mut String, r: &UnitRecord, near: &Near) {
    b.push_str("<section><h2>Neighbouring units</h2>\n<div class=\"grid small\">\n");
    for u in near.around {
        let thumb = u.pictures.iter().find_map(|p| p.png.as_deref());
        let _ = write!(
            b,
            "<a class=\"card{}\" href=\"u{:04}.html\">",
            if u.unit == r.unit { " here" } else { "" },
            u.unit
        );
        if let Some(t) = thumb {
            let _ = write!(
                b,
                "<img loading=\"lazy\" src=\"{}\" width=\"64\" height=\"64\" alt=\"unit {}\">",
                url(&rel_to_layer(t)),
                u.unit
            );
        }
        let _ = writeln!(b, "<span class=\"caption\">{}</span></a>", u.unit);
    }
    b.push_str("</div>\n</section>\n");
}

/// The histogram of a unit's maximum per image, as an inline SVG.
fn histogram(s: &StatsRecord) -> String {
    let (w, h, bar) = (24usize, 120.0f64, 20usize);
    let top = s.hist.iter().copied().max().unwrap_or(0).max(1) as f64;
    let width = w * s.hist.len() + 10;
    let mut o = format!(
        "<svg class=\"hist\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" \
         role=\"img\" aria-label=\"images per value of the unit's maximum\">",
        h as usize + 40,
        h as usize + 40
    );
    for (i, &n) in s.hist.iter().enumerate() {
        let bh = n as f64 / top * h;
        let x = 5 + i * w;
        let label = match i {
            0 => "silent".to_string(),
            1 => "&gt;0".to_string(),
            i => s.edges.get(i - 1).map_or(String::new(), |e| short(*e)),
        };
        let _ = write!(
            o,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"{bar}\" height=\"{bh:.1}\"><title>{label}: {n} \
             image(s)</title></rect><text x=\"{}\" y=\"{}\" transform=\"rotate(60 {} {})\">{label}</text>",
            h - bh,
            x + 4,
            h as usize + 6,
            x + 4,
            h as usize + 6
        );
    }
    o.push_str("</svg>\n<p class=\"note\">Images per value of the unit's maximum on them (bins by powers of two).</p>\n");
    o
}

/// A bin edge, short.
fn short(v: f32) -> String {
    if v >= 1.0 {
        format!("{v}")
    } else {
        format!("2^{}", v.log2().round() as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_paths_are_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            url("layers/fire9/u0001/top 1.png"),
            "layers/fire9/u0001/top%201.png"
        );
        assert_eq!(url("a\"b<c"), "a%22b%3Cc");
        assert_eq!(
            rel_to_layer("layers/fire9/u0001/paper.png"),
            "u0001/paper.png"
        );
    }
}
