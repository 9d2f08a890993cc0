//! The model contract: what the ONNX model takes and gives, and how Lab planes
//! map to and from its tensors. The trainer builds its targets and the device
//! reads its predictions through these functions only.
//!
//! - Input `"L"`: f32 `[1, 1, H, W]`, value = L*/50 - 1, so L* 0..=100 maps to -1..=1.
//! - Output `"ab"`: f32 `[1, 2, H/k, W/k]` (k = 1, 2 or 4: at the input's
//!   size or a reduced one, e.g. an encoder's stride-4 features), a* plane
//!   then b* plane, each a tanh value in -1..=1 scaled by [`AB_RANGE`]:
//!   a* = out x 128.
//! - Or, from a distribution head: `"ab"` is f32 `[1, AB_BINS, H/k, W/k]`
//!   (k = 1, 2 or 4), one logit per a*b* bin of `colour_bins` (in its
//!   order), decoded on the device by the annealed mean at the user's
//!   vividness.
//! - Either way the a*b* planes come out at H/k x W/k
//!   ([`ModelGeometry::ab_size`]) and the recombination upsamples them to
//!   the photo's size.
//! - Optional second input `"hints"` (models trained to follow colour
//!   hints): f32 `[1, 3, h, w]` at the output's a*b* size: a mask (1 where
//!   a person gave a colour, else 0), then a* and b* in the output's units
//!   (a*/128) times the mask. All zeros is "no hints"
//!   ([`hints_to_input`] builds it).
//! - H = W = [`DEFAULT_INPUT_SIZE`] (64, Tiny ImageNet) unless the model says
//!   otherwise; the device reads H and W from the model and checks the rest.

use core::fmt;

/// Bumped whenever a change here makes old models produce wrong colours.
pub const CONTRACT_VERSION: u32 = 1;
pub const INPUT_NAME: &str = "L";
pub const OUTPUT_NAME: &str = "ab";
/// The optional hints input (module docs).
pub const HINTS_NAME: &str = "hints";
/// In a model that takes hints, the logits before the hints are added:
/// the automatic colours, exactly (the hint branch adds zero without
/// hints), so a device runs only up to here when no hint is given.
pub const AUTO_OUTPUT_NAME: &str = "ab_auto";
/// Channels of the hints input: mask, a* x mask, b* x mask.
pub const HINT_CHANNELS: usize = 3;
pub const DEFAULT_INPUT_SIZE: usize = 64;
/// a*, b* = model output x AB_RANGE. 128 makes the output span exactly the
/// Q8.8 `i16` range of [`crate::lab`].
pub const AB_RANGE: f32 = 128.0;

/// Output channels of a distribution head: the number of a*b* bins of
/// `colour_bins::bins()` (a test there keeps the two equal).
pub const AB_BINS: usize = 261;

/// Keys of the model card in ONNX `metadata_props`.
pub mod meta {
    pub const CONTRACT_VERSION: &str = "colorize.contract_version";
    pub const ARCH: &str = "colorize.arch";
    pub const INPUT_SIZE: &str = "colorize.input_size";
    pub const MODEL_ID: &str = "colorize.model_id";
    pub const TRAINING_DATA: &str = "colorize.training_data";
    pub const TRAINING_COMMAND: &str = "colorize.training_command";
    pub const VAL_METRICS: &str = "colorize.val_metrics";
    /// SHA-256 of the trained float weights (every weight and bias in node
    /// order, little-endian f32), as the trainer computed them: names the
    /// training result, shared by its f32 and int8 exports; not checkable
    /// on an int8 file.
    pub const WEIGHTS_SHA256: &str = "colorize.weights_sha256";
    /// SHA-256 over the ONNX graph's initializers as stored in this file
    /// (`colorize_model::integrity`): checked when a model is loaded.
    pub const INITIALIZERS_SHA256: &str = "colorize.initializers_sha256";
    pub const QUANTIZATION: &str = "colorize.quantization";
    /// Distribution-head models: the vividness (0..1) used when the user
    /// sets none, picked on val by the trainer.
    pub const DEFAULT_VIVIDNESS: &str = "colorize.default_vividness";
    /// Distribution-head models trained with class rebalancing: ln of each
    /// bin's weight, space separated, in bin order (`colour_bins::BinDecoding`).
    pub const BIN_LOG_WEIGHTS: &str = "colorize.bin_log_weights";
    /// Distribution-head models: the annealing temperature at vividness 1.
    pub const VIVID_TEMPERATURE: &str = "colorize.vivid_temperature";
}

/// L* (Q8.8) -> model input value.
#[inline(always)]
pub fn l_to_input(l: u16) -> f32 {
    l as f32 * (1.0 / 12800.0) - 1.0
}

/// Model output value -> a* or b* (Q8.8). Clamps to -1..=1 first.
#[inline(always)]
pub fn output_to_ab(v: f32) -> i16 {
    let v = v.clamp(-1.0, 1.0) * 32768.0;
    // `as` saturates, so +1.0 lands on i16::MAX.
    (v + if v >= 0.0 { 0.5 } else { -0.5 }) as i16
}

/// a* or b* (Q8.8) -> training target, the inverse of [`output_to_ab`].
#[inline(always)]
pub fn ab_to_target(ab: i16) -> f32 {
    ab as f32 * (1.0 / 32768.0)
}

/// L plane -> input tensor data (same length, row-major).
pub fn l_plane_to_input(l: &[u16], input: &mut [f32]) {
    assert_eq!(l.len(), input.len(), "l_plane_to_input: length mismatch");
    for (x, l) in input.iter_mut().zip(l) {
        *x = l_to_input(*l);
    }
}

/// Output tensor data `[2, H, W]` -> a and b planes of `H * W`.
pub fn output_to_ab_planes(output: &[f32], a: &mut [i16], b: &mut [i16]) {
    let n = a.len();
    assert!(
        output.len() == 2 * n && b.len() == n,
        "output_to_ab_planes: length mismatch"
    );
    for (dst, src) in a.iter_mut().zip(&output[..n]) {
        *dst = output_to_ab(*src);
    }
    for (dst, src) in b.iter_mut().zip(&output[n..]) {
        *dst = output_to_ab(*src);
    }
}

/// Box-filter an L plane down (or, for tiny images, nearest-sample it up) to
/// the model's input size. Each output pixel averages the source pixels whose
/// index falls in its cell, so no aliasing from skipping pixels.
pub fn resize_l_plane(src: &[u16], sw: usize, sh: usize, dst: &mut [u16], dw: usize, dh: usize) {
    assert!(
        src.len() == sw * sh && dst.len() == dw * dh && sw > 0 && sh > 0,
        "resize_l_plane: bad sizes"
    );
    let span = |i: usize, s: usize, d: usize| {
        let lo = i * s / d;
        (lo, ((i + 1) * s / d).max(lo + 1))
    };
    for y in 0..dh {
        let (y0, y1) = span(y, sh, dh);
        for x in 0..dw {
            let (x0, x1) = span(x, sw, dw);
            let mut sum = 0u64;
            for row in src[y0 * sw..y1 * sw].chunks_exact(sw) {
                sum += row[x0..x1].iter().map(|&v| v as u64).sum::<u64>();
            }
            let n = ((y1 - y0) * (x1 - x0)) as u64;
            dst[y * dw + x] = ((sum + n / 2) / n) as u16;
        }
    }
}

/// A colour hint placed on a model's hint grid: a position and a radius as
/// fractions of the image's width and height (so the same for the photo
/// and for the model's squashed input), and the colour's a*, b* (Lab units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridHint {
    pub x: f32,
    pub y: f32,
    pub radius_x: f32,
    pub radius_y: f32,
    pub a: f32,
    pub b: f32,
}

/// The hints tensor's data (`[HINT_CHANNELS, height, width]`, row-major) for
/// `hints` on a `width x height` grid. A hint covers the cell it falls in
/// and every cell whose centre lies within its radius on both axes (a
/// square: a radius of r cells covers (2r + 1)^2 cells around a centred
/// point); a cell covered by several hints gets their mean colour. Points
/// outside 0..1 cover nothing. The trainer builds its sampled hints with
/// this too, so what a model learnt from is what the device gives it.
pub fn hints_to_input(hints: &[GridHint], width: usize, height: usize, out: &mut [f32]) {
    cover(hints, width, height, out, false);
}

/// Like [`hints_to_input`], but each point also covers the (up to) four
/// cells whose centres surround it: the cells the recombination's bilinear
/// upsampling colours that point from ([`pin_hints`]).
pub fn hints_to_pins(hints: &[GridHint], width: usize, height: usize, out: &mut [f32]) {
    cover(hints, width, height, out, true);
}

fn cover(hints: &[GridHint], width: usize, height: usize, out: &mut [f32], bilinear: bool) {
    let n = width * height;
    assert_eq!(
        out.len(),
        HINT_CHANNELS * n,
        "hints_to_input: output length"
    );
    out.fill(0.0);
    let (mask, ab) = out.split_at_mut(n);
    let (a_plane, b_plane) = ab.split_at_mut(n);
    let inside = |v: f32| (0.0..1.0).contains(&v);
    for h in hints.iter().filter(|h| inside(h.x) && inside(h.y)) {
        let (fx, fy) = (h.x * width as f32, h.y * height as f32);
        let (cx, cy) = (fx as usize, fy as usize);
        let (rx, ry) = (
            h.radius_x.max(0.0) * width as f32,
            h.radius_y.max(0.0) * height as f32,
        );
        // Only cells within the radius can be covered: a bounded loop even
        // for a hint as large as the image.
        let span = |c: f32, r: f32, len: usize| {
            // `as` truncates, which for these non-negative values is a
            // floor (f32::floor is not in core).
            let lo = (c - r - 1.0).max(0.0) as usize;
            let hi = ((c + r + 1.0) as usize + 1).min(len);
            lo..hi
        };
        for y in span(fy, ry, height) {
            let dy = (y as f32 + 0.5 - fy).abs();
            for x in span(fx, rx, width) {
                let dx = (x as f32 + 0.5 - fx).abs();
                // The cells whose centres bracket the point on both axes.
                let near = bilinear && dx < 1.0 && dy < 1.0;
                if (x == cx && y == cy) || (dx <= rx && dy <= ry) || near {
                    let i = y * width + x;
                    mask[i] += 1.0;
                    a_plane[i] += h.a / AB_RANGE;
                    b_plane[i] += h.b / AB_RANGE;
                }
            }
        }
    }
    for i in 0..n {
        if mask[i] > 1.0 {
            a_plane[i] /= mask[i];
            b_plane[i] /= mask[i];
            mask[i] = 1.0;
        }
    }
}

/// Gives the cells a hint covers its colour in the decoded a*b* planes
/// (`hints` as [`hints_to_pins`] made them, planes of the same grid,
/// Q8.8): a person's assertion holds where it was made, exactly, even after
/// the upsampling to the photo's size; the model spreads it over the rest
/// of the object.
pub fn pin_hints(hints: &[f32], a: &mut [i16], b: &mut [i16]) {
    let n = a.len();
    assert!(
        hints.len() == HINT_CHANNELS * n && b.len() == n,
        "pin_hints: length mismatch"
    );
    for i in (0..n).filter(|&i| hints[i] > 0.0) {
        a[i] = output_to_ab(hints[n + i]);
        b[i] = output_to_ab(hints[2 * n + i]);
    }
}

/// Checks a hints input's shape against a model's geometry: `[1,
/// HINT_CHANNELS, h, w]` at the output's a*b* size.
pub fn check_hints_shape(geometry: &ModelGeometry, hints: &[usize]) -> Result<(), ContractError> {
    let (h, w) = geometry.ab_size();
    if hints == [1, HINT_CHANNELS, h, w] {
        Ok(())
    } else {
        Err(ContractError::Hints {
            got: Shape::new(hints),
            output: (h, w),
        })
    }
}

/// The spatial size a model works at, once its shapes passed [`check_shapes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelGeometry {
    pub height: usize,
    pub width: usize,
    pub output: OutputKind,
}

/// What the model's output holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// a*, b* at `height x width`, the input's size or 1/2, 1/4 of it
    /// (regression).
    Ab { height: usize, width: usize },
    /// [`AB_BINS`] logits per pixel at `height x width`.
    Bins { height: usize, width: usize },
}

impl ModelGeometry {
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Height and width of the a*b* planes the model gives (after the
    /// decode of a distribution head): the output's spatial size, not the
    /// input's.
    pub fn ab_size(&self) -> (usize, usize) {
        match self.output {
            OutputKind::Ab { height, width } | OutputKind::Bins { height, width } => {
                (height, width)
            }
        }
    }
}

/// A tensor shape that broke the contract, kept without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    dims: [usize; 6],
    rank: usize,
}

impl Shape {
    pub fn new(dims: &[usize]) -> Self {
        let mut s = Shape {
            dims: [0; 6],
            rank: dims.len(),
        };
        for (d, v) in s.dims.iter_mut().zip(dims) {
            *d = *v;
        }
        s
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims[..self.rank.min(6)].iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > 6 {
            f.write_str(", ...")?;
        }
        f.write_str("]")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractError {
    /// The input is not `[1, 1, H, W]` with H, W > 0.
    Input(Shape),
    /// The output is neither `[1, 2, H/k, W/k]` nor `[1, AB_BINS, H/k,
    /// W/k]` (k = 1, 2 or 4) for the input's `[1, 1, H, W]`.
    Output { got: Shape, input: Shape },
    /// The hints input is not `[1, HINT_CHANNELS, h, w]` at the output's
    /// a*b* size `(h, w)`.
    Hints { got: Shape, output: (usize, usize) },
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContractError::Input(s) => write!(
                f,
                "model input has shape {s}, but the colorize contract v{CONTRACT_VERSION} needs [1, 1, H, W] (the L* plane)"
            ),
            ContractError::Output { got, input } => write!(
                f,
                "model output has shape {got}, but for an input of shape {input} the colorize contract v{CONTRACT_VERSION} needs [1, 2, H/k, W/k] (a* and b*) or [1, {AB_BINS}, H/k, W/k] (a*b* bin logits), k = 1, 2 or 4"
            ),
            ContractError::Hints { got, output: (h, w) } => write!(
                f,
                "model hints input `{HINTS_NAME}` has shape {got}, but the colorize contract v{CONTRACT_VERSION} needs [1, {HINT_CHANNELS}, {h}, {w}] (mask, a*, b* at the output's size)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ContractError {}

/// Checks a model's input and output shapes against the contract.
pub fn check_shapes(input: &[usize], output: &[usize]) -> Result<ModelGeometry, ContractError> {
    let [1, 1, h, w] = *input else {
        return Err(ContractError::Input(Shape::new(input)));
    };
    if h == 0 || w == 0 {
        return Err(ContractError::Input(Shape::new(input)));
    }
    // One k for both axes, for a*b* as for bins: the recombination would
    // upsample any size, but an output squeezed on one axis only is an
    // export mistake rather than a design.
    let reduced = |oh: usize, ow: usize| [1, 2, 4].iter().any(|k| oh * k == h && ow * k == w);
    let kind = match *output {
        [1, 2, oh, ow] if reduced(oh, ow) => Some(OutputKind::Ab {
            height: oh,
            width: ow,
        }),
        [1, AB_BINS, oh, ow] if reduced(oh, ow) => Some(OutputKind::Bins {
            height: oh,
            width: ow,
        }),
        _ => None,
    };
    let Some(output_kind) = kind else {
        return Err(ContractError::Output {
            got: Shape::new(output),
            input: Shape::new(input),
        });
    };
    Ok(ModelGeometry {
        height: h,
        width: w,
        output: output_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_normalisation_spans_minus_one_to_one() {
        assert_eq!(l_to_input(0), -1.0);
        assert_eq!(l_to_input(12800), 0.0);
        assert_eq!(l_to_input(crate::lab::L_MAX), 1.0);
    }

    #[test]
    fn output_mapping_round_trips_every_ab_value() {
        for ab in i16::MIN..=i16::MAX {
            assert_eq!(output_to_ab(ab_to_target(ab)), ab);
        }
        assert_eq!(output_to_ab(1.0), i16::MAX);
        assert_eq!(output_to_ab(-1.0), i16::MIN);
        assert_eq!(output_to_ab(7.0), i16::MAX);
        assert_eq!(output_to_ab(f32::NEG_INFINITY), i16::MIN);
        // tanh 0.5 -> a* = 64.
        assert_eq!(output_to_ab(0.5), 64 * 256);
    }

    #[test]
    fn planes_split_a_then_b() {
        let out = [0.5, -0.5, 0.25, -0.25];
        let (mut a, mut b) = ([0i16; 2], [0i16; 2]);
        output_to_ab_planes(&out, &mut a, &mut b);
        assert_eq!(a, [16384, -16384]);
        assert_eq!(b, [8192, -8192]);
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(
            check_shapes(&[1, 1, 64, 48], &[1, 2, 64, 48]),
            Ok(ModelGeometry {
                height: 64,
                width: 48,
                output: OutputKind::Ab {
                    height: 64,
                    width: 48
                },
            })
        );
        // Regression output at 1/2 and 1/4 of the input's size.
        let g = check_shapes(&[1, 1, 64, 48], &[1, 2, 16, 12]).unwrap();
        assert_eq!(
            g.output,
            OutputKind::Ab {
                height: 16,
                width: 12
            }
        );
        assert_eq!((g.height, g.width, g.ab_size()), (64, 48, (16, 12)));
        assert_eq!(
            check_shapes(&[1, 1, 64, 64], &[1, 2, 32, 32])
                .unwrap()
                .ab_size(),
            (32, 32)
        );
        // Not 1/3, not 1/8, not k differing between the axes, not larger.
        for out in [
            [1, 2, 21, 21],
            [1, 2, 8, 8],
            [1, 2, 32, 16],
            [1, 2, 128, 128],
        ] {
            assert!(check_shapes(&[1, 1, 64, 64], &out).is_err(), "{out:?}");
        }
        assert!(matches!(
            check_shapes(&[1, 3, 64, 64], &[1, 2, 64, 64]),
            Err(ContractError::Input(_))
        ));
        assert!(matches!(
            check_shapes(&[1, 64, 64], &[1, 2, 64, 64]),
            Err(ContractError::Input(_))
        ));
        let err = check_shapes(&[1, 1, 64, 64], &[1, 2, 24, 24]).unwrap_err();
        #[cfg(feature = "std")]
        assert_eq!(
            std::format!("{err}"),
            "model output has shape [1, 2, 24, 24], but for an input of shape [1, 1, 64, 64] the colorize contract v1 needs [1, 2, H/k, W/k] (a* and b*) or [1, 261, H/k, W/k] (a*b* bin logits), k = 1, 2 or 4"
        );
        assert!(matches!(err, ContractError::Output { .. }));
        // Distribution heads: bin logits at the input's size or 1/2, 1/4 of it.
        let g = check_shapes(&[1, 1, 64, 48], &[1, AB_BINS, 32, 24]).unwrap();
        assert_eq!(
            g.output,
            OutputKind::Bins {
                height: 32,
                width: 24
            }
        );
        assert_eq!(g.ab_size(), (32, 24));
        assert!(check_shapes(&[1, 1, 64, 64], &[1, AB_BINS, 64, 64]).is_ok());
        assert!(check_shapes(&[1, 1, 64, 64], &[1, AB_BINS, 24, 24]).is_err());
        assert!(check_shapes(&[1, 1, 64, 64], &[1, AB_BINS + 1, 32, 32]).is_err());
    }

    #[test]
    fn hints_cover_their_cell_and_radius_and_average_overlaps() {
        let (w, h) = (8, 4);
        let mut out = [0f32; 3 * 32];
        let at = |x: usize, y: usize| y * w + x;
        // A point in cell (2, 1), no radius: that cell only.
        let p = GridHint {
            x: 2.5 / 8.0,
            y: 1.2 / 4.0,
            radius_x: 0.0,
            radius_y: 0.0,
            a: 64.0,
            b: -32.0,
        };
        hints_to_input(&[p], w, h, &mut out);
        assert_eq!(out[..32].iter().sum::<f32>(), 1.0);
        assert_eq!(out[at(2, 1)], 1.0);
        assert_eq!((out[32 + at(2, 1)], out[64 + at(2, 1)]), (0.5, -0.25));
        // A radius of one cell around a centred point: the 3x3 block.
        let q = GridHint {
            x: 5.5 / 8.0,
            y: 2.5 / 4.0,
            radius_x: 1.0 / 8.0,
            radius_y: 1.0 / 4.0,
            a: -128.0,
            b: 0.0,
        };
        hints_to_input(&[q], w, h, &mut out);
        assert_eq!(out[..32].iter().sum::<f32>(), 9.0);
        for (x, y) in [(4, 1), (6, 3), (5, 2)] {
            assert_eq!((out[at(x, y)], out[32 + at(x, y)]), (1.0, -1.0));
        }
        assert_eq!(out[at(3, 2)], 0.0);
        // Two hints on one cell: their mean, mask 1.
        let r = GridHint { a: 0.0, ..p };
        hints_to_input(&[p, r], w, h, &mut out);
        assert_eq!((out[at(2, 1)], out[32 + at(2, 1)]), (1.0, 0.25));
        // Outside the image: nothing.
        let o = GridHint { x: 1.0, ..p };
        hints_to_input(&[o], w, h, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn pins_cover_the_cells_around_the_point_and_keep_its_colour() {
        let (w, h) = (8, 4);
        let at = |x: usize, y: usize| y * w + x;
        let p = GridHint {
            x: 2.2 / 8.0,
            y: 1.9 / 4.0,
            radius_x: 0.0,
            radius_y: 0.0,
            a: 64.0,
            b: -32.0,
        };
        let mut pins = [0f32; 3 * 32];
        hints_to_pins(&[p], w, h, &mut pins);
        // Centres around (2.2, 1.9): columns 1 and 2, rows 1 and 2.
        let mut marked = (0..32).filter(|&i| pins[i] > 0.0);
        for want in [at(1, 1), at(2, 1), at(1, 2), at(2, 2)] {
            assert_eq!(marked.next(), Some(want));
        }
        assert_eq!(marked.next(), None);
        let (mut a, mut b) = ([5i16; 32], [6i16; 32]);
        pin_hints(&pins, &mut a, &mut b);
        assert_eq!((a[at(1, 2)], b[at(1, 2)]), (64 * 256, -32 * 256));
        assert_eq!((a[at(3, 1)], b[at(3, 1)]), (5, 6));
    }

    #[test]
    fn hints_shape_follows_the_output() {
        let g = check_shapes(&[1, 1, 128, 128], &[1, AB_BINS, 32, 32]).unwrap();
        assert!(check_hints_shape(&g, &[1, 3, 32, 32]).is_ok());
        for bad in [&[1, 3, 128, 128][..], &[1, 2, 32, 32], &[3, 32, 32]] {
            assert!(check_hints_shape(&g, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resize_averages_cells() {
        // 4x2 -> 2x1: each output is the mean of a 2x2 block.
        let src = [0, 100, 1000, 1000, 200, 300, 3000, 1000];
        let mut dst = [0u16; 2];
        resize_l_plane(&src, 4, 2, &mut dst, 2, 1);
        assert_eq!(dst, [150, 1500]);
        // Identity size is a copy.
        let mut same = [0u16; 8];
        resize_l_plane(&src, 4, 2, &mut same, 4, 2);
        assert_eq!(same, src);
        // Upsizing a 1x1 image replicates it.
        let mut up = [0u16; 6];
        resize_l_plane(&[777], 1, 1, &mut up, 3, 2);
        assert_eq!(up, [777; 6]);
    }
}
