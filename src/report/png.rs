//! PNG copies of the SVG charts, for tools that show images but not SVG
//! (most ticket systems, Confluence, Google Docs). Rasterized with resvg
//! (pure Rust) using the DejaVu Sans font shipped in `assets/fonts/`
//! (its licence beside it), so no system font is needed and a chart looks
//! the same on every machine. Every SVG the reports draw (the charts of
//! `RUN_DIR/series/`, the phase Gantt, `gameday history --chart`) goes
//! through `svg_to_png`.

use std::sync::OnceLock;

/// The shipped font (DejaVu Sans 2.37, Bitstream Vera licence + public domain).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut o = resvg::usvg::Options {
            font_family: "DejaVu Sans".into(),
            ..Default::default()
        };
        let db = o.fontdb_mut();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        db.set_serif_family("DejaVu Sans");
        db.set_monospace_family("DejaVu Sans");
        o
    })
}

/// The PNG of an SVG document, at the SVG's own size in pixels.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, String> {
    let tree = resvg::usvg::Tree::from_str(svg, options()).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("cannot draw a {}x{} image", size.width(), size.height()))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// Width and height of a PNG, read from its header (tests, `gameday verify`).
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_svg_with_text_becomes_a_png_of_its_size_with_ink() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="5" y="25" font-family="sans-serif" font-size="16" fill="#000000">TTD 10 s</text></svg>"##;
        let png = svg_to_png(svg).unwrap();
        assert_eq!(png_size(&png), Some((120, 40)));
        // The text was drawn with the shipped font: some pixels are dark.
        let tree = resvg::usvg::Tree::from_str(svg, options()).unwrap();
        let mut pixmap = resvg::tiny_skia::Pixmap::new(120, 40).unwrap();
        resvg::render(&tree, Default::default(), &mut pixmap.as_mut());
        assert!(pixmap.pixels().iter().any(|p| p.alpha() > 200));
        assert!(svg_to_png("<svg").is_err());
    }
}
