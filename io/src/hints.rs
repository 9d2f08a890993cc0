//! Colour hints: "this point of the photo is this colour", given by an
//! archivist on the command line (`--hint X,Y=COLOUR[/R]`) or in a JSON file
//! (`--hints FILE.json`, or the sidecar `NAME.hints.json` next to the image).
//! Parsing and validation only: what a model does with them is elsewhere.
//!
//! Every value is checked when it is read (finite, non-negative positions,
//! Lab in range), and against the image once its size is known ([`place`]),
//! so a bad hint is one clear error line before any work starts.

use std::fmt;
use std::path::{Path, PathBuf};

use colorize_shared::contract::GridHint;
use colorize_shared::lab::{rgb8_to_lab, LAB_ONE};
use serde::Deserialize;

/// The most hints one image may have; more is an error, never a truncation,
/// so no hint an archivist gave is silently dropped.
pub const MAX_HINTS: usize = 256;

/// A position or length given in pixels of the input image, or as a fraction
/// of its width/height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    #[default]
    Pixels,
    Fraction,
}

/// One hint as given (not yet checked against an image size).
#[derive(Clone, Debug, PartialEq)]
pub struct Hint {
    pub x: f64,
    pub y: f64,
    pub units: Units,
    /// CIE L* (0..=100), a*, b* (-128..=127).
    pub lab: [f32; 3],
    /// Same units as `x` (a fraction of the width for [`Units::Fraction`]);
    /// `None` is the point alone.
    pub radius: Option<f64>,
}

/// A hint placed on an image of known size: pixel coordinates, radius in
/// pixels (0 = the point alone).
#[derive(Clone, Debug, PartialEq)]
pub struct PixelHint {
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub lab: [f32; 3],
}

/// Why hints were refused. `Display` is one line a user can act on; the
/// caller adds the image's name.
#[derive(Debug)]
#[non_exhaustive]
pub enum HintError {
    /// A `--hint` argument (as given; quoted and escaped when shown) and
    /// what is wrong with it.
    Arg { arg: String, problem: String },
    /// Hints JSON that is not JSON, or not the shape of a hints file.
    Json(String),
    /// One point of a list (1-based: the user counts from 1).
    Point { index: usize, problem: String },
    /// More than [`MAX_HINTS`] points.
    TooMany(usize),
    /// A hints file that can not be read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A hints file whose content is wrong.
    File {
        path: PathBuf,
        source: Box<HintError>,
    },
}

impl fmt::Display for HintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HintError::Arg { arg, problem } => write!(f, "hint {:?}: {problem}", shorten(arg)),
            HintError::Json(problem) => f.write_str(problem),
            HintError::Point { index, problem } => write!(f, "hint {index}: {problem}"),
            HintError::TooMany(n) => write!(f, "{n} hints: at most {MAX_HINTS} are allowed"),
            HintError::Io { path, error } => write!(f, "{}: can not read: {error}", path.display()),
            HintError::File { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for HintError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HintError::Io { error, .. } => Some(error),
            HintError::File { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Control characters escaped, so text from the input (a field name, an
/// argument) can not break the one-line message.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An argument as quoted in a message: a pasted paragraph is cut short.
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn number(s: &str, what: &str) -> Result<f64, String> {
    let s = s.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{what} must be a finite number, not {s:?}")),
        Err(_) => Err(format!("{what} must be a number, not {s:?}")),
    }
}

/// A number, or a percentage (`true`) turned into a fraction.
fn number_or_percent(s: &str, what: &str) -> Result<(f64, bool), String> {
    match s.trim().strip_suffix('%') {
        Some(p) => Ok((number(p, what)? / 100.0, true)),
        None => Ok((number(s, what)?, false)),
    }
}

/// `#RRGGBB` (sRGB) in Lab, through the same fixed-point conversion the
/// models' training data goes through.
fn hex_to_lab(s: &str) -> Option<[f32; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    let (l, a, b) = rgb8_to_lab(byte(0)?, byte(2)?, byte(4)?);
    let one = LAB_ONE as f32;
    Some([l as f32 / one, a as f32 / one, b as f32 / one])
}

fn check_lab(lab: [f64; 3]) -> Result<[f32; 3], String> {
    let [l, a, b] = lab;
    if !(0.0..=100.0).contains(&l) {
        return Err(format!("L* {l} is outside 0..=100"));
    }
    for (name, v) in [("a*", a), ("b*", b)] {
        if !(-128.0..=127.0).contains(&v) {
            return Err(format!("{name} {v} is outside -128..=127"));
        }
    }
    Ok([l as f32, a as f32, b as f32])
}

fn check_point(x: f64, y: f64, radius: Option<f64>) -> Result<(), String> {
    for (name, v) in [("x", x), ("y", y)] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!("{name} {v} must be a finite number >= 0"));
        }
    }
    match radius {
        Some(r) if !r.is_finite() || r < 0.0 => {
            Err(format!("radius {r} must be a finite number >= 0"))
        }
        _ => Ok(()),
    }
}

/// One `--hint` argument: `X,Y=COLOUR[/R]`, where X,Y are pixels or both
/// percentages (`50%,25%`), COLOUR is `#RRGGBB` (sRGB) or `L,a,b` (CIE Lab),
/// and R is a radius in the units of X,Y (`R%` is a percentage of the width).
/// Whitespace around each part is ignored.
pub fn parse_arg(s: &str) -> Result<Hint, HintError> {
    parse_arg_inner(s).map_err(|problem| HintError::Arg {
        arg: s.to_string(),
        problem: one_line(&problem),
    })
}

fn parse_arg_inner(s: &str) -> Result<Hint, String> {
    const FORM: &str = "expected X,Y=COLOUR or X,Y=COLOUR/RADIUS";
    let (pos, rest) = s.split_once('=').ok_or(FORM)?;
    let (xs, ys) = pos.split_once(',').ok_or(FORM)?;
    let (x, xp) = number_or_percent(xs, "X")?;
    let (y, yp) = number_or_percent(ys, "Y")?;
    if xp != yp {
        return Err("X and Y must both be pixels or both percentages".into());
    }
    let units = if xp { Units::Fraction } else { Units::Pixels };
    let (colour, radius) = match rest.split_once('/') {
        Some((c, r)) => {
            let (r, rp) = number_or_percent(r, "radius")?;
            if rp != xp {
                return Err("the radius must be in the units of X,Y (pixels, or % with %)".into());
            }
            (c.trim(), Some(r))
        }
        None => (rest.trim(), None),
    };
    check_point(x, y, radius)?;
    let lab = if colour.starts_with('#') {
        hex_to_lab(colour).ok_or("colour must be #RRGGBB or L,a,b")?
    } else {
        let parts: Vec<&str> = colour.split(',').collect();
        let [l, a, b] = parts[..] else {
            return Err("colour must be #RRGGBB or L,a,b".into());
        };
        check_lab([number(l, "L*")?, number(a, "a*")?, number(b, "b*")?])?
    };
    Ok(Hint {
        x,
        y,
        units,
        lab,
        radius,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFile {
    #[serde(default)]
    units: Units,
    // Values first, so an error in one point can name it.
    points: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPoint {
    x: f64,
    y: f64,
    #[serde(alias = "color")]
    colour: Option<String>,
    lab: Option<[f64; 3]>,
    radius: Option<f64>,
}

/// serde_json's message without its " at line L column C" (said first).
fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if e.line() == 0 {
        return one_line(&msg);
    }
    let at = format!(" at line {} column {}", e.line(), e.column());
    let bare = msg.strip_suffix(&at).unwrap_or(&msg);
    let what = if e.is_data() {
        "not a hints file"
    } else {
        "malformed JSON"
    };
    one_line(&format!(
        "{what} at line {} column {}: {bare}",
        e.line(),
        e.column()
    ))
}

/// A hints file's content:
/// `{"units": "pixels"|"fraction", "points": [{"x", "y", "colour"|"color"|"lab", "radius"?}]}`.
/// `units` defaults to pixels; unknown fields are errors, so typos are caught.
pub fn parse_json(bytes: &[u8]) -> Result<Vec<Hint>, HintError> {
    let file: JsonFile =
        serde_json::from_slice(bytes).map_err(|e| HintError::Json(json_error(&e)))?;
    if file.points.len() > MAX_HINTS {
        return Err(HintError::TooMany(file.points.len()));
    }
    let units = file.units;
    file.points
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            json_point(v, units).map_err(|problem| HintError::Point {
                index: i + 1,
                problem: one_line(&problem),
            })
        })
        .collect()
}

fn json_point(v: serde_json::Value, units: Units) -> Result<Hint, String> {
    let p: JsonPoint = serde_json::from_value(v).map_err(|e| e.to_string())?;
    check_point(p.x, p.y, p.radius)?;
    let lab = match (p.colour, p.lab) {
        (Some(c), None) => hex_to_lab(c.trim())
            .ok_or_else(|| format!("colour {:?} must be \"#RRGGBB\"", shorten(&c)))?,
        (None, Some(lab)) => check_lab(lab)?,
        (Some(_), Some(_)) => return Err("give \"colour\" or \"lab\", not both".into()),
        (None, None) => {
            return Err("needs \"colour\": \"#RRGGBB\" or \"lab\": [L, a, b]".into());
        }
    };
    Ok(Hint {
        x: p.x,
        y: p.y,
        units,
        lab,
        radius: p.radius,
    })
}

/// The hints on a `width` x `height` image, in pixels. A point must lie in
/// the image: 0 <= x < width and 0 <= y < height in pixels, which for
/// fractions is 0 <= f < 1 (the check is made on the returned `f32`
/// coordinates, so what passes is what the caller gets). Fractions become
/// x * width, y * height, radius * width. At most [`MAX_HINTS`] hints.
pub fn place(hints: &[Hint], width: usize, height: usize) -> Result<Vec<PixelHint>, HintError> {
    if hints.len() > MAX_HINTS {
        return Err(HintError::TooMany(hints.len()));
    }
    let (w, h) = (width as f64, height as f64);
    hints
        .iter()
        .enumerate()
        .map(|(i, hint)| {
            let err = |problem: String| HintError::Point {
                index: i + 1,
                problem,
            };
            check_point(hint.x, hint.y, hint.radius).map_err(err)?;
            let (sx, sy) = match hint.units {
                Units::Pixels => (1.0, 1.0),
                Units::Fraction => (w, h),
            };
            let (x, y) = ((hint.x * sx) as f32, (hint.y * sy) as f32);
            let inside = |v: f32, size: f64| v.is_finite() && v >= 0.0 && (v as f64) < size;
            if !inside(x, w) || !inside(y, h) {
                let given = match hint.units {
                    Units::Pixels => String::new(),
                    Units::Fraction => {
                        format!("({}%, {}%) = ", hint.x * 100.0, hint.y * 100.0)
                    }
                };
                return Err(err(format!(
                    "point {given}({x}, {y}) is outside the {width}x{height} image"
                )));
            }
            let radius = (hint.radius.unwrap_or(0.0) * sx) as f32;
            if !radius.is_finite() {
                return Err(err(format!(
                    "radius {} is too large",
                    hint.radius.unwrap_or(0.0)
                )));
            }
            Ok(PixelHint {
                x,
                y,
                radius,
                lab: hint.lab,
            })
        })
        .collect()
}

impl PixelHint {
    /// The hint on a model's grid: position and radius as fractions of the
    /// `width x height` image it was placed on (the model sees the whole
    /// image squashed to its input, so fractions carry over).
    pub fn to_grid(&self, width: usize, height: usize) -> GridHint {
        let (w, h) = (width as f32, height as f32);
        // The centre of the pixel the point is in: where the recombination
        // samples that pixel's colour (and the trainer puts its points).
        GridHint {
            x: (self.x.floor() + 0.5) / w,
            y: (self.y.floor() + 0.5) / h,
            radius_x: self.radius / w,
            radius_y: self.radius / h,
            a: self.lab[1],
            b: self.lab[2],
        }
    }
}

/// Whether a hint's colour exists in sRGB at the lightness `l` (Q8.8 L*,
/// the image's own at the hint: the colourization keeps the image's
/// lightness, so that is where the hint's a*b* will be shown). Tested by a
/// round trip through sRGB8: a colour outside the gamut comes back
/// clipped, more than 3 Lab units away (the round trip alone moves an
/// in-gamut colour by less than 1).
pub fn in_gamut(l: u16, hint: &PixelHint) -> bool {
    let q = |v: f32| {
        (v * LAB_ONE as f32)
            .round()
            .clamp(i16::MIN as f32, i16::MAX as f32) as i16
    };
    let (a, b) = (q(hint.lab[1]), q(hint.lab[2]));
    let [r, g, bl] = colorize_shared::lab::lab_to_rgb8(l, a, b);
    let (l2, a2, b2) = rgb8_to_lab(r, g, bl);
    let d = |x: i32, y: i32| (x - y) as f32 / LAB_ONE as f32;
    let e = d(l as i32, l2 as i32).powi(2)
        + d(a as i32, a2 as i32).powi(2)
        + d(b as i32, b2 as i32).powi(2);
    e.sqrt() <= 3.0
}

/// Placed hints as a hints file ([`parse_json`] reads it back): what an
/// output keeps beside it, so the archive records what a person asserted.
pub fn to_json(placed: &[PixelHint]) -> String {
    let points: Vec<serde_json::Value> = placed
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({ "x": p.x, "y": p.y, "lab": p.lab });
            if p.radius > 0.0 {
                v["radius"] = serde_json::json!(p.radius);
            }
            v
        })
        .collect();
    let doc = serde_json::json!({ "units": "pixels", "points": points });
    serde_json::to_string_pretty(&doc).expect("numbers and strings serialise") + "\n"
}

/// The sidecar hints file of an image: `photo.jpg` -> `photo.hints.json` in
/// the same folder (only the last extension goes: `a.b.tif` -> `a.b.hints.json`).
pub fn sidecar_path(image: &Path) -> PathBuf {
    let stem = image.file_stem().unwrap_or_default();
    let mut name = stem.to_os_string();
    name.push(".hints.json");
    image.with_file_name(name)
}

/// Whether `path` is a hints sidecar (its name ends in `.hints.json`), so a
/// folder walk does not take it for an image.
pub fn is_sidecar(path: &Path) -> bool {
    const SUFFIX: &[u8] = b".hints.json";
    path.file_name().is_some_and(|n| {
        let n = n.as_encoded_bytes();
        n.len() > SUFFIX.len() && n[n.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX)
    })
}

/// A hints file, read and parsed ([`parse_json`]); errors name the file.
pub fn read_file(path: &Path) -> Result<Vec<Hint>, HintError> {
    let bytes = std::fs::read(path).map_err(|error| HintError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_json(&bytes).map_err(|e| HintError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamut_depends_on_the_lightness() {
        let green = place(&[parse_arg("0,0=#00ff00").unwrap()], 1, 1).unwrap();
        // sRGB green at its own L* (87.7) is in gamut; at L* 20 it is not.
        assert!(in_gamut((87.7 * 256.0) as u16, &green[0]));
        assert!(!in_gamut(20 * 256, &green[0]));
        let gray = place(&[parse_arg("0,0=50,0,0").unwrap()], 1, 1).unwrap();
        assert!(in_gamut(20 * 256, &gray[0]) && in_gamut(90 * 256, &gray[0]));
    }

    #[test]
    fn placed_hints_round_trip_through_json_and_map_to_the_grid() {
        let given = parse_json(
            br##"{"points": [{"x": 40, "y": 10, "colour": "#2e7d32"},
            {"x": 5, "y": 30, "lab": [50, -20, 10], "radius": 8}]}"##,
        )
        .unwrap();
        let placed = place(&given, 80, 40).unwrap();
        let again = place(&parse_json(to_json(&placed).as_bytes()).unwrap(), 80, 40).unwrap();
        assert_eq!(again, placed);
        let g = placed[1].to_grid(80, 40);
        assert_eq!(
            (g.x, g.y, g.radius_x, g.radius_y),
            (5.5 / 80.0, 30.5 / 40.0, 0.1, 0.2)
        );
        assert_eq!((g.a, g.b), (-20.0, 10.0));
    }

    fn near(got: [f32; 3], want: [f32; 3], tol: f32) {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= tol,
                "{got:?} is not within {tol} of {want:?}"
            );
        }
    }

    fn arg_err(s: &str) -> String {
        let e = parse_arg(s).expect_err(s).to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    fn json_err(s: &str) -> String {
        let e = parse_json(s.as_bytes()).expect_err(s).to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn hex_colours_use_the_published_cie_values() {
        let white = parse_arg("0,0=#FFFFFF").unwrap().lab;
        near(white, [100.0, 0.0, 0.0], 0.5);
        let green = parse_arg("0,0=#00ff00").unwrap().lab;
        near(green, [87.7, -86.2, 83.2], 1.0);
        let black = parse_arg("0,0=#000000").unwrap().lab;
        near(black, [0.0, 0.0, 0.0], 0.5);
    }

    #[test]
    fn cli_forms() {
        let h = parse_arg(" 812 , 640 = #3a7d2c ").unwrap();
        assert_eq!(
            (h.x, h.y, h.units, h.radius),
            (812.0, 640.0, Units::Pixels, None)
        );
        let h = parse_arg("100,40=62,-30.5,41/12").unwrap();
        assert_eq!(h.lab, [62.0, -30.5, 41.0]);
        assert_eq!(h.radius, Some(12.0));
        let h = parse_arg("50%,25%=#00ff00 / 2%").unwrap();
        assert_eq!(
            (h.x, h.y, h.units, h.radius),
            (0.5, 0.25, Units::Fraction, Some(0.02))
        );
        let h = parse_arg("0,0=100,-128,127").unwrap();
        assert_eq!(h.lab, [100.0, -128.0, 127.0]);
    }

    #[test]
    fn bad_cli_strings_say_what_is_wrong() {
        assert_eq!(
            arg_err("10,20=#12345"),
            "hint \"10,20=#12345\": colour must be #RRGGBB or L,a,b"
        );
        for (s, want) in [
            ("10,20", "expected X,Y=COLOUR"),
            ("10=#ffffff", "expected X,Y=COLOUR"),
            ("10,20=#gggggg", "#RRGGBB"),
            ("10,20=#ffffff0", "#RRGGBB"),
            ("10,20=50,0", "#RRGGBB or L,a,b"),
            ("10,20=50,0,0,0", "#RRGGBB or L,a,b"),
            ("NaN,20=#ffffff", "X must be a finite number"),
            ("inf,20=#ffffff", "X must be a finite number"),
            ("-1,20=#ffffff", "x -1 must be a finite number >= 0"),
            ("10,x=#ffffff", "Y must be a number"),
            (
                "50%,20=#ffffff",
                "X and Y must both be pixels or both percentages",
            ),
            ("10,20=101,0,0", "L* 101 is outside 0..=100"),
            ("10,20=-1,0,0", "L* -1 is outside"),
            ("10,20=50,-129,0", "a* -129 is outside -128..=127"),
            ("10,20=50,0,128", "b* 128 is outside"),
            ("10,20=50,nan,0", "a* must be a finite number"),
            ("10,20=#ffffff/-2", "radius -2 must be"),
            ("10,20=#ffffff/2%", "units of X,Y"),
            ("10%,20%=#ffffff/2", "units of X,Y"),
        ] {
            let e = arg_err(s);
            assert!(e.contains(want), "{s}: {e}");
        }
        // Control characters can not break the line; long arguments are cut.
        assert!(arg_err("1\n2=#ff").starts_with("hint \"1\\n2=#ff\""));
        assert!(arg_err(&"9".repeat(500)).len() < 120);
    }

    const GOOD: &str = r##"{ "units": "pixels",
        "points": [
            { "x": 812, "y": 640, "colour": "#3a7d2c" },
            { "x": 100, "y": 40, "lab": [62.0, -30.5, 41.0], "radius": 12 },
            { "x": 1, "y": 2, "color": "#FFFFFF" }
        ] }"##;

    #[test]
    fn json_forms() {
        let h = parse_json(GOOD.as_bytes()).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!((h[0].x, h[0].y, h[0].radius), (812.0, 640.0, None));
        assert_eq!(h[1].lab, [62.0, -30.5, 41.0]);
        assert_eq!(h[1].radius, Some(12.0));
        near(h[2].lab, [100.0, 0.0, 0.0], 0.5);
        assert!(h.iter().all(|h| h.units == Units::Pixels));

        let h = parse_json(br#"{"points": [{"x": 0.5, "y": 0.5, "lab": [50, 0, 0]}]}"#).unwrap();
        assert_eq!(h[0].units, Units::Pixels, "units default to pixels");
        let f = br#"{"units": "fraction", "points": [{"x": 0.5, "y": 0.25, "lab": [50, 0, 0]}]}"#;
        assert_eq!(parse_json(f).unwrap()[0].units, Units::Fraction);
        assert!(parse_json(br#"{"points": []}"#).unwrap().is_empty());
    }

    #[test]
    fn bad_json_names_the_problem_and_the_point() {
        let e = json_err("{\"points\": [\n  {\"x\": 1,, }\n]}");
        assert!(
            e.starts_with("malformed JSON at line 2 column 11: key must be a string"),
            "{e}"
        );
        let e = json_err(r#"{"unit": "pixels", "points": []}"#);
        assert!(e.contains("unknown field `unit`"), "{e}");
        let e = json_err(r#"{"units": "inches", "points": []}"#);
        assert!(e.contains("unknown variant `inches`"), "{e}");
        let p = |body: &str| {
            json_err(&format!(
                r#"{{"points": [{{"x":1,"y":1,"lab":[1,0,0]}}, {body}]}}"#
            ))
        };
        for (body, want) in [
            (r#"{"x":1,"y":2}"#, "hint 2: needs \"colour\""),
            (
                r##"{"x":1,"y":2,"colour":"#ffffff","lab":[1,2,3]}"##,
                "hint 2: give \"colour\" or \"lab\", not both",
            ),
            (
                r##"{"x":1,"y":2,"colr":"#ffffff"}"##,
                "hint 2: unknown field `colr`",
            ),
            (r#"{"y":2,"lab":[1,2,3]}"#, "hint 2: missing field `x`"),
            (
                r#"{"x":1,"y":2,"lab":[120,0,0]}"#,
                "hint 2: L* 120 is outside 0..=100",
            ),
            (
                r#"{"x":1,"y":2,"lab":[50,0,-200]}"#,
                "hint 2: b* -200 is outside",
            ),
            (r#"{"x":1,"y":2,"lab":[50,0]}"#, "hint 2: invalid length 2"),
            (r#"{"x":-1,"y":2,"lab":[50,0,0]}"#, "hint 2: x -1 must be"),
            (
                r#"{"x":1,"y":2,"lab":[50,0,0],"radius":-3}"#,
                "hint 2: radius -3 must be",
            ),
            (
                r#"{"x":1,"y":2,"colour":"red"}"#,
                "hint 2: colour \"red\" must be \"#RRGGBB\"",
            ),
        ] {
            let e = p(body);
            assert!(e.starts_with(want), "{body}: {e}");
        }
        let many = vec![r##"{"x":1,"y":1,"colour":"#000000"}"##; MAX_HINTS + 1].join(",");
        let e = json_err(&format!(r#"{{"points": [{many}]}}"#));
        assert_eq!(e, "257 hints: at most 256 are allowed");
        let ok = vec![r##"{"x":1,"y":1,"colour":"#000000"}"##; MAX_HINTS].join(",");
        assert_eq!(
            parse_json(format!(r#"{{"points": [{ok}]}}"#).as_bytes())
                .unwrap()
                .len(),
            MAX_HINTS
        );
    }

    #[test]
    fn place_checks_the_image_and_converts_fractions() {
        let hints = [
            parse_arg("0,0=#ffffff").unwrap(),
            parse_arg("1599,1066=#ffffff/3").unwrap(),
            parse_arg("50%,25%=#ffffff/1%").unwrap(),
        ];
        let p = place(&hints, 1600, 1067).unwrap();
        assert_eq!((p[0].x, p[0].y, p[0].radius), (0.0, 0.0, 0.0));
        assert_eq!((p[1].x, p[1].y, p[1].radius), (1599.0, 1066.0, 3.0));
        assert_eq!((p[2].x, p[2].y, p[2].radius), (800.0, 266.75, 16.0));

        let mut bad = hints.to_vec();
        bad.push(parse_arg("1700,20=#ffffff").unwrap());
        let e = place(&bad, 1600, 1067).unwrap_err().to_string();
        assert_eq!(e, "hint 4: point (1700, 20) is outside the 1600x1067 image");
        let e = place(&[parse_arg("1600,0=#ffffff").unwrap()], 1600, 1067).unwrap_err();
        assert!(e.to_string().contains("outside"), "x = width is outside");
        let e = place(&[parse_arg("100%,0%=#ffffff").unwrap()], 1600, 1067).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hint 1: point (100%, 0%) = (1600, 0) is outside the 1600x1067 image"
        );
        assert!(place(&hints, 0, 0).is_err());
        assert!(place(&[], 0, 0).unwrap().is_empty());
        let many = vec![hints[0].clone(); MAX_HINTS + 1];
        assert_eq!(
            place(&many, 10, 10).unwrap_err().to_string(),
            "257 hints: at most 256 are allowed"
        );
        assert_eq!(place(&many[1..], 10, 10).unwrap().len(), MAX_HINTS);
        // A hint built by hand still goes through the checks.
        let nan = Hint {
            x: f64::NAN,
            ..hints[0].clone()
        };
        assert!(place(&[nan], 10, 10).is_err());
    }

    #[test]
    fn sidecars() {
        assert_eq!(
            sidecar_path(Path::new("scans/photo.jpg")),
            Path::new("scans/photo.hints.json")
        );
        assert_eq!(
            sidecar_path(Path::new("a.b.tif")),
            Path::new("a.b.hints.json")
        );
        assert_eq!(
            sidecar_path(Path::new("/x/noext")),
            Path::new("/x/noext.hints.json")
        );
        assert!(is_sidecar(Path::new("/x/photo.hints.json")));
        assert!(is_sidecar(&sidecar_path(Path::new("p.png"))));
        assert!(is_sidecar(Path::new("/x/PHOTO.Hints.JSON")));
        assert!(!is_sidecar(Path::new("/x/.hints.json")));
        assert!(!is_sidecar(Path::new("/x/photo.json")));
        assert!(!is_sidecar(Path::new("/x/photo.jpg")));
    }

    #[test]
    fn read_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hints.json");
        std::fs::write(&path, GOOD).unwrap();
        assert_eq!(read_file(&path).unwrap().len(), 3);
        std::fs::write(&path, "{\n\n  x").unwrap();
        let e = read_file(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: malformed JSON at line 3 column 3",
                path.display()
            )),
            "{e}"
        );
        let missing = dir.path().join("none.hints.json");
        let e = read_file(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: can not read", missing.display())),
            "{e}"
        );
    }
}
