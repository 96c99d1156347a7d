//! A horizontal bar chart as hand-written SVG text (no plotting dependency): one panel per
//! measurement, one bar per crate, each bar labelled with its value. `ratios.rs` draws the
//! peer comparison with it for the README.

use std::fmt::Write as _;

/// One panel: a title and its bars (a label and a value in `unit`).
pub struct Panel {
    pub title: String,
    pub unit: &'static str,
    pub bars: Vec<(String, f64)>,
}

const WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 230.0;
const BAR_HEIGHT: f64 = 22.0;
const GAP: f64 = 8.0;
const TITLE_HEIGHT: f64 = 28.0;
const PANEL_GAP: f64 = 18.0;
/// Room right of the longest bar for its value.
const VALUE_WIDTH: f64 = 90.0;

/// The panels stacked, under `caption` and a smaller `note` (the machine, the date); each
/// panel's bars are scaled to its longest one.
pub fn bar_chart(caption: &str, note: &str, panels: &[Panel]) -> String {
    let height = 2.0 * TITLE_HEIGHT
        + panels
            .iter()
            .map(|panel| TITLE_HEIGHT + panel.bars.len() as f64 * (BAR_HEIGHT + GAP) + PANEL_GAP)
            .sum::<f64>();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="8" y="19" font-weight="bold" font-size="15">{}</text><text x="8" y="40" font-size="11" fill="#555555">{}</text>"##,
        escape(caption),
        escape(note)
    );
    let mut y = 2.0 * TITLE_HEIGHT;
    for panel in panels {
        let _ = writeln!(
            svg,
            r#"<text x="8" y="{}" font-weight="bold">{}</text>"#,
            y + 18.0,
            escape(&panel.title)
        );
        y += TITLE_HEIGHT;
        let longest = panel.bars.iter().map(|bar| bar.1).fold(0.0, f64::max);
        let room = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
        for (index, (label, value)) in panel.bars.iter().enumerate() {
            let length = if longest > 0.0 {
                (value / longest * room).max(1.0)
            } else {
                1.0
            };
            // The first bar is this crate's: drawn in another colour.
            let colour = if index == 0 { "#2b7bb9" } else { "#9aa5b1" };
            let text_y = y + BAR_HEIGHT * 0.7;
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{text_y}" text-anchor="end">{}</text><rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1}" height="{BAR_HEIGHT}" fill="{colour}"/><text x="{:.1}" y="{text_y}">{value:.2} {}</text>"#,
                LABEL_WIDTH - 8.0,
                escape(label),
                LABEL_WIDTH + length + 6.0,
                panel.unit
            );
            y += BAR_HEIGHT + GAP;
        }
        y += PANEL_GAP;
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
