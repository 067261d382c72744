//! An offline map view: ward outlines and place markers drawn as one SVG,
//! projected from the points' own bounding box. Needs no tile server; an app
//! with a tile URL (`geo::tile_url`) can still draw this on top.

use crate::geo::{Point, WardShape};
use crate::html::escape;

/// A dot on the map.
pub struct Marker {
    pub at: Point,
    /// Shown on hover and read by screen readers.
    pub label: String,
    /// Where a click goes, if anywhere.
    pub href: Option<String>,
    /// Fill colour, e.g. `#c0392b`.
    pub colour: String,
}

/// The SVG (`width` user units wide) of `wards` and `markers`, titled `title`.
pub fn svg(title: &str, wards: &[WardShape], markers: &[Marker], width: f64) -> String {
    let points = wards
        .iter()
        .flat_map(|w| w.outline.iter())
        .chain(markers.iter().map(|m| &m.at));
    let (mut south, mut west, mut north, mut east) = (90.0f64, 180.0f64, -90.0f64, -180.0f64);
    for p in points {
        south = south.min(p.lat);
        north = north.max(p.lat);
        west = west.min(p.lon);
        east = east.max(p.lon);
    }
    if south > north {
        return format!(
            "<svg class=\"map\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 1 1\"></svg>",
            escape(title)
        );
    }
    let x_scale = ((south + north) / 2.0).to_radians().cos();
    let span_x = ((east - west) * x_scale).max(1e-6);
    let span_y = (north - south).max(1e-6);
    let margin = 8.0;
    let scale = (width - 2.0 * margin) / span_x;
    let height = span_y * scale + 2.0 * margin;
    let project = |p: &Point| {
        (
            margin + (p.lon - west) * x_scale * scale,
            margin + (north - p.lat) * scale,
        )
    };
    // A picture, unless its markers are links: then a group of them (an
    // image may hold no control).
    let role = if markers.iter().any(|m| m.href.is_some()) {
        "group"
    } else {
        "img"
    };
    let mut svg = format!(
        "<svg class=\"map\" role=\"{role}\" aria-label=\"{}\" viewBox=\"0 0 {width:.0} {height:.0}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    for ward in wards {
        let path: Vec<String> = ward
            .outline
            .iter()
            .map(|p| {
                let (x, y) = project(p);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        svg.push_str(&format!(
            "<polygon class=\"ward\" points=\"{}\"><title>{}</title></polygon>",
            path.join(" "),
            escape(&ward.ward.name)
        ));
    }
    for marker in markers {
        let (x, y) = project(&marker.at);
        let dot = format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{}\"><title>{}</title></circle>",
            escape(&marker.colour),
            escape(&marker.label)
        );
        match &marker.href {
            Some(href) => svg.push_str(&format!(
                "<a href=\"{}\" aria-label=\"{}\">{dot}</a>",
                escape(href),
                escape(&marker.label)
            )),
            None => svg.push_str(&dot),
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::{svg, Marker};
    use crate::geo::Point;

    fn marker(href: Option<&str>) -> Marker {
        Marker {
            at: Point {
                lat: 16.4627,
                lon: 107.5965,
            },
            label: "Chợ Đông Ba".into(),
            href: href.map(Into::into),
            colour: "#c0392b".into(),
        }
    }

    /// A map whose markers are links is a group of named links (an image
    /// may hold no control); without links it is one image.
    #[test]
    fn a_map_with_links_is_a_group_of_named_links() {
        let linked = svg("Huế", &[], &[marker(Some("/places/1"))], 360.0);
        assert!(linked.starts_with("<svg class=\"map\" role=\"group\" aria-label=\"Huế\""));
        assert!(linked.contains("<a href=\"/places/1\" aria-label=\"Chợ Đông Ba\">"));
        let picture = svg("Huế", &[], &[marker(None)], 360.0);
        assert!(picture.starts_with("<svg class=\"map\" role=\"img\""));
    }
}
