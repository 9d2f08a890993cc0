//! Just enough drawing for `curves.png` and `samples.png`: lines, boxes and a
//! 3x5 pixel font for axis labels, on an `image::RgbImage`.

use image::{Rgb, RgbImage};

pub const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
pub const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
pub const GRID: Rgb<u8> = Rgb([225, 225, 225]);
pub const BLUE: Rgb<u8> = Rgb([31, 119, 180]);
pub const ORANGE: Rgb<u8> = Rgb([255, 127, 14]);
pub const GREEN: Rgb<u8> = Rgb([44, 160, 44]);
pub const GRAY: Rgb<u8> = Rgb([140, 140, 140]);
pub const RED: Rgb<u8> = Rgb([214, 39, 40]);

/// Rows of 3 bits, top to bottom.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 3, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 2, 2],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        ':' => [0, 2, 0, 2, 0],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [7, 4, 4, 4, 7],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'K' => [5, 5, 6, 5, 5],
        'M' => [5, 7, 7, 5, 5],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Z' => [7, 1, 2, 4, 7],
        '+' => [0, 2, 7, 2, 0],
        '=' => [0, 7, 0, 7, 0],
        '/' => [1, 1, 2, 4, 4],
        'G' => [7, 4, 5, 5, 7],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'L' => [4, 4, 4, 4, 7],
        'N' => [6, 5, 5, 5, 5],
        'O' => [7, 5, 5, 5, 7],
        'P' => [7, 5, 7, 4, 4],
        'R' => [6, 5, 6, 5, 5],
        'S' => [7, 4, 7, 1, 7],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'Y' => [5, 5, 2, 2, 2],
        _ => [0; 5],
    }
}

/// Draws `text` with its top-left at (x, y), each font pixel `scale` wide.
pub fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, scale: i64, colour: Rgb<u8>) {
    for (i, c) in s.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    let px = x + (i as i64 * 4 + col) * scale;
                    let py = y + row as i64 * scale;
                    fill(img, px, py, scale, scale, colour);
                }
            }
        }
    }
}

pub fn fill(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: Rgb<u8>) {
    for yy in y.max(0)..(y + h).min(img.height() as i64) {
        for xx in x.max(0)..(x + w).min(img.width() as i64) {
            img.put_pixel(xx as u32, yy as u32, colour);
        }
    }
}

/// A 2-pixel-wide line.
pub fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), colour: Rgb<u8>) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        fill(img, x.round() as i64, y.round() as i64, 2, 2, colour);
    }
}

fn label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// A named, coloured line of (x, y) points.
pub type Series<'a> = (&'a str, Rgb<u8>, Vec<(f64, f64)>);

/// One line chart: `series` of (name, colour, points (x, y)) in the box
/// (x, y, w, h), with y-axis labels, the x range under the axis after
/// `x_name`, and a legend. A series of one point is drawn as a larger mark.
pub fn chart(
    img: &mut RgbImage,
    (bx, by, bw, bh): (i64, i64, i64, i64),
    title: &str,
    x_name: &str,
    series: &[Series<'_>],
) {
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts.filter(|p| p.1.is_finite()) {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if xmin > xmax {
        return;
    }
    if xmax - xmin < 1e-9 {
        xmax = xmin + 1.0;
    }
    let pad = ((ymax - ymin) * 0.05).max(1e-6);
    let (ymin, ymax) = (ymin - pad, ymax + pad);
    // Plot area inside the box, leaving room for labels on the left.
    let (px, py, pw, ph) = (bx + 70, by + 24, bw - 90, bh - 54);
    for i in 0..=4 {
        let y = py + ph * i / 4;
        fill(img, px, y, pw, 1, GRID);
        let v = ymax - (ymax - ymin) * i as f64 / 4.0;
        text(img, bx + 4, y - 4, &label(v), 2, BLACK);
    }
    fill(img, px, py, 2, ph, BLACK);
    fill(img, px, py + ph, pw, 2, BLACK);
    text(img, px, by + 4, title, 3, BLACK);
    let x_label = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            label(v)
        }
    };
    text(
        img,
        px,
        py + ph + 8,
        &format!("{x_name} {}", x_label(xmin)),
        2,
        BLACK,
    );
    let end = x_label(xmax);
    text(
        img,
        px + pw - 8 * end.len() as i64,
        py + ph + 8,
        &end,
        2,
        BLACK,
    );
    let map = |(x, y): (f64, f64)| {
        (
            px as f64 + (x - xmin) / (xmax - xmin) * pw as f64,
            py as f64 + (ymax - y) / (ymax - ymin) * ph as f64,
        )
    };
    let mut legend_x = px + pw / 3;
    for (name, colour, points) in series {
        let points: Vec<_> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
        for w in points.windows(2) {
            line(img, map(w[0]), map(w[1]), *colour);
        }
        let r = if points.len() == 1 { 5 } else { 2 };
        for &p in &points {
            let (x, y) = map(p);
            fill(
                img,
                x as i64 - r,
                y as i64 - r,
                2 * r + 1,
                2 * r + 1,
                *colour,
            );
        }
        fill(img, legend_x, by + 6, 14, 10, *colour);
        text(img, legend_x + 18, by + 6, name, 2, BLACK);
        legend_x += 18 + 8 * name.len() as i64 + 20;
    }
}
