//! A plain-Rust forward pass and shape inference for [`Net`]: the reference
//! the ONNX writer is tested against (and that a trainer can check its
//! hand-over against), independent of tract and of ONNX semantics.
//!
//! Plain loops, written to be obviously right rather than fast; only the
//! convolution's loop order is picked so that a 64x64 net runs in a test.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use colorize_shared::contract::{HINTS_NAME, HINT_CHANNELS, INPUT_NAME, OUTPUT_NAME};

use crate::net::{Net, Node, Op, Tensor};

/// The shape of every tensor of `net` (the input included), checking that
/// each node's inputs exist and fit its op, and that the last node makes
/// [`OUTPUT_NAME`].
pub fn infer_shapes(net: &Net) -> Result<HashMap<String, Vec<usize>>> {
    ensure!(
        net.input_height > 0 && net.input_width > 0,
        "net `{}` has an empty input size {}x{}",
        net.arch,
        net.input_width,
        net.input_height
    );
    let mut shapes = HashMap::new();
    shapes.insert(
        INPUT_NAME.to_string(),
        vec![1, 1, net.input_height, net.input_width],
    );
    if let Some((h, w)) = net.hints {
        shapes.insert(HINTS_NAME.to_string(), vec![1, HINT_CHANNELS, h, w]);
    }
    for node in &net.nodes {
        let inputs: Vec<&Vec<usize>> = node
            .inputs
            .iter()
            .map(|name| {
                shapes.get(name).with_context(|| {
                    format!(
                        "node `{}` reads `{name}`, which no earlier node makes",
                        node.name
                    )
                })
            })
            .collect::<Result<_>>()?;
        let shape = node_shape(node, &inputs).with_context(|| format!("node `{}`", node.name))?;
        ensure!(
            shapes.insert(node.output.clone(), shape).is_none(),
            "node `{}` writes `{}`, which already exists",
            node.name,
            node.output
        );
    }
    if let Some((h, w)) = net.hints {
        let out = shapes.get(OUTPUT_NAME).map(|s| (s[2], s[3]));
        ensure!(
            out == Some((h, w)),
            "net `{}` takes hints at {w}x{h}, but its output is at {:?}: hints go at the output's size",
            net.arch,
            out
        );
    }
    match net.nodes.last() {
        Some(last) if last.output == OUTPUT_NAME => Ok(shapes),
        Some(last) => bail!(
            "the last node `{}` makes `{}`, but the net's output must be `{OUTPUT_NAME}`",
            last.name,
            last.output
        ),
        None => bail!("net `{}` has no nodes", net.arch),
    }
}

fn one_input<'a>(inputs: &[&'a Vec<usize>]) -> Result<&'a Vec<usize>> {
    ensure!(inputs.len() == 1, "takes one input, got {}", inputs.len());
    Ok(inputs[0])
}

fn nchw(shape: &[usize]) -> Result<[usize; 4]> {
    match *shape {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => bail!("needs an NCHW input, got {shape:?}"),
    }
}

/// Output size of a convolution along one axis.
pub fn conv_out_len(len: usize, k: usize, stride: usize, pad: usize, dil: usize) -> Option<usize> {
    let span = dil * (k.checked_sub(1)?) + 1;
    let padded = len + 2 * pad;
    (stride > 0 && padded >= span).then(|| (padded - span) / stride + 1)
}

fn node_shape(node: &Node, inputs: &[&Vec<usize>]) -> Result<Vec<usize>> {
    Ok(match &node.op {
        Op::Conv2d {
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
        } => {
            let [n, c, h, w] = nchw(one_input(inputs)?)?;
            let [o, i, kh, kw] = match *weight.shape {
                [o, i, kh, kw] => [o, i, kh, kw],
                _ => bail!(
                    "conv weight must be [out, in / groups, kh, kw], got {:?}",
                    weight.shape
                ),
            };
            ensure!(
                *groups > 0 && c % groups == 0 && o % groups == 0,
                "conv groups {groups} must divide its {c} input and {o} output channels"
            );
            ensure!(
                i * groups == c,
                "conv weight takes {i} channels per group ({groups} groups), input has {c}"
            );
            ensure!(
                bias.len() == o,
                "conv bias has {} values for {o} outputs",
                bias.len()
            );
            ensure!(*dilation > 0, "conv dilation 0");
            let oh = conv_out_len(h, kh, *stride, *padding, *dilation)
                .with_context(|| format!("conv kernel {kh} does not fit height {h}"))?;
            let ow = conv_out_len(w, kw, *stride, *padding, *dilation)
                .with_context(|| format!("conv kernel {kw} does not fit width {w}"))?;
            vec![n, o, oh, ow]
        }
        Op::Relu | Op::Tanh => one_input(inputs)?.clone(),
        Op::Clip { min, max } => {
            // Also refuses NaN bounds.
            ensure!(min <= max, "clip to {min}..{max} is empty");
            one_input(inputs)?.clone()
        }
        Op::GlobalAvgPool => {
            let [n, c, h, w] = nchw(one_input(inputs)?)?;
            ensure!(h * w > 0, "global average of an empty {h}x{w} plane");
            vec![n, c, 1, 1]
        }
        Op::Upsample2x => {
            let [n, c, h, w] = nchw(one_input(inputs)?)?;
            vec![n, c, 2 * h, 2 * w]
        }
        Op::Concat => {
            ensure!(!inputs.is_empty(), "concat of nothing");
            let first = nchw(inputs[0])?;
            let mut c = 0;
            for s in inputs {
                let s = nchw(s)?;
                ensure!(
                    s[0] == first[0] && s[2..] == first[2..],
                    "concat inputs differ outside the channel axis: {inputs:?}"
                );
                c += s[1];
            }
            vec![first[0], c, first[2], first[3]]
        }
        Op::Add | Op::Mul => {
            ensure!(
                inputs.len() == 2,
                "{:?} takes two inputs, got {}",
                node.op,
                inputs.len()
            );
            ensure!(
                inputs[0] == inputs[1],
                "{:?} of shapes {:?} and {:?}",
                node.op,
                inputs[0],
                inputs[1]
            );
            inputs[0].clone()
        }
        Op::Flatten => {
            let s = one_input(inputs)?;
            ensure!(!s.is_empty(), "flatten of a scalar");
            vec![s[0], s[1..].iter().product()]
        }
        Op::Linear { weight, bias } => {
            let s = one_input(inputs)?;
            let [o, i] = match *weight.shape {
                [o, i] => [o, i],
                _ => bail!("linear weight must be [out, in], got {:?}", weight.shape),
            };
            ensure!(
                s.len() == 2 && s[1] == i,
                "linear takes [N, {i}], got {s:?}"
            );
            ensure!(
                bias.len() == o,
                "linear bias has {} values for {o} outputs",
                bias.len()
            );
            vec![s[0], o]
        }
        Op::Reshape { shape } => {
            let s = one_input(inputs)?;
            ensure!(
                shape.iter().product::<usize>() == s.iter().product::<usize>(),
                "reshape of {s:?} to {shape:?} changes the element count"
            );
            shape.clone()
        }
    })
}

/// Runs `net` on `input` (`input_height * input_width` values) and returns
/// the output tensor; a net that takes hints gets none (all zeros).
pub fn forward(net: &Net, input: &[f32]) -> Result<Tensor> {
    forward_hinted(net, input, None)
}

/// [`forward`] with a hinted net's hints tensor (`None`: no hints).
pub fn forward_hinted(net: &Net, input: &[f32], hints: Option<&[f32]>) -> Result<Tensor> {
    Ok(forward_all_hinted(net, input, hints)?
        .remove(OUTPUT_NAME)
        .expect("infer_shapes checked the output"))
}

/// Like [`forward`], but returns every tensor by name.
pub fn forward_all(net: &Net, input: &[f32]) -> Result<HashMap<String, Tensor>> {
    forward_all_hinted(net, input, None)
}

/// Like [`forward_hinted`], but returns every tensor by name.
pub fn forward_all_hinted(
    net: &Net,
    input: &[f32],
    hints: Option<&[f32]>,
) -> Result<HashMap<String, Tensor>> {
    let shapes = infer_shapes(net)?;
    let in_shape = shapes[INPUT_NAME].clone();
    ensure!(
        input.len() == in_shape.iter().product::<usize>(),
        "input has {} values, the net takes {in_shape:?}",
        input.len()
    );
    let mut values = HashMap::new();
    values.insert(
        INPUT_NAME.to_string(),
        Tensor::new(in_shape, input.to_vec()),
    );
    match (shapes.get(HINTS_NAME), hints) {
        (Some(shape), hints) => {
            let len = shape.iter().product::<usize>();
            let data = hints.map_or_else(|| vec![0.0; len], <[f32]>::to_vec);
            ensure!(
                data.len() == len,
                "hints have {} values, the net takes {shape:?}",
                data.len()
            );
            values.insert(HINTS_NAME.to_string(), Tensor::new(shape.clone(), data));
        }
        (None, Some(_)) => bail!("net `{}` takes no hints", net.arch),
        (None, None) => {}
    }
    for node in &net.nodes {
        let inputs: Vec<&Tensor> = node.inputs.iter().map(|n| &values[n]).collect();
        let out = eval(&node.op, &inputs, &shapes[&node.output]);
        debug_assert_eq!(out.shape, shapes[&node.output]);
        values.insert(node.output.clone(), out);
    }
    Ok(values)
}

fn map(x: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor::new(x.shape.clone(), x.data.iter().map(|v| f(*v)).collect())
}

fn eval(op: &Op, inputs: &[&Tensor], out_shape: &[usize]) -> Tensor {
    let mut out = vec![0f32; out_shape.iter().product()];
    match op {
        Op::Conv2d {
            weight,
            bias,
            stride,
            padding,
            dilation,
            groups,
        } => {
            let x = inputs[0];
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
            let (o, cg, kh, kw) = (
                weight.shape[0],
                weight.shape[1],
                weight.shape[2],
                weight.shape[3],
            );
            let og = o / groups;
            let (oh, ow) = (out_shape[2], out_shape[3]);
            // One weight at a time over a whole output plane: each input
            // value is read once per weight that touches it, and a depthwise
            // conv costs its multiply-adds, not `in` times as many. Every
            // output still sums bias, then (ic, ky, kx) in order, as the
            // per-pixel formula does.
            for b in 0..n {
                for oc in 0..o {
                    let dst = &mut out[(b * o + oc) * oh * ow..(b * o + oc + 1) * oh * ow];
                    dst.fill(bias[oc]);
                    let first_ic = (oc / og) * cg;
                    for icg in 0..cg {
                        let src = &x.data[(b * c + first_ic + icg) * h * w..][..h * w];
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let wv = weight.data[((oc * cg + icg) * kh + ky) * kw + kx];
                                for oy in 0..oh {
                                    let iy =
                                        (oy * stride + ky * dilation) as isize - *padding as isize;
                                    if iy < 0 || iy >= h as isize {
                                        continue;
                                    }
                                    let row = &src[iy as usize * w..][..w];
                                    for ox in 0..ow {
                                        let ix = (ox * stride + kx * dilation) as isize
                                            - *padding as isize;
                                        if ix < 0 || ix >= w as isize {
                                            continue;
                                        }
                                        dst[oy * ow + ox] += row[ix as usize] * wv;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Op::Relu => return map(inputs[0], |v| v.max(0.0)),
        Op::Tanh => return map(inputs[0], f32::tanh),
        Op::Clip { min, max } => return map(inputs[0], |v| v.clamp(*min, *max)),
        Op::GlobalAvgPool => {
            let x = inputs[0];
            let hw = x.shape[2] * x.shape[3];
            for (dst, plane) in out.iter_mut().zip(x.data.chunks_exact(hw)) {
                *dst = plane.iter().sum::<f32>() / hw as f32;
            }
        }
        Op::Upsample2x => {
            let x = inputs[0];
            let (h, w) = (x.shape[2], x.shape[3]);
            let (oh, ow) = (out_shape[2], out_shape[3]);
            for (plane, dst) in x
                .data
                .chunks_exact(h * w)
                .zip(out.chunks_exact_mut(oh * ow))
            {
                for y in 0..oh {
                    for xx in 0..ow {
                        dst[y * ow + xx] = plane[(y / 2) * w + xx / 2];
                    }
                }
            }
        }
        Op::Concat => {
            // NCHW: per batch item, the channel blocks follow each other.
            let n = out_shape[0];
            let mut pos = 0;
            for b in 0..n {
                for x in inputs {
                    let per = x.data.len() / n;
                    out[pos..pos + per].copy_from_slice(&x.data[b * per..(b + 1) * per]);
                    pos += per;
                }
            }
        }
        Op::Add => {
            for ((o, a), b) in out.iter_mut().zip(&inputs[0].data).zip(&inputs[1].data) {
                *o = a + b;
            }
        }
        Op::Mul => {
            for ((o, a), b) in out.iter_mut().zip(&inputs[0].data).zip(&inputs[1].data) {
                *o = a * b;
            }
        }
        Op::Flatten | Op::Reshape { .. } => out.copy_from_slice(&inputs[0].data),
        Op::Linear { weight, bias } => {
            let x = inputs[0];
            let (n, i) = (x.shape[0], x.shape[1]);
            let o = weight.shape[0];
            for b in 0..n {
                for oc in 0..o {
                    let row = &weight.data[oc * i..(oc + 1) * i];
                    let xs = &x.data[b * i..(b + 1) * i];
                    out[b * o + oc] =
                        bias[oc] + row.iter().zip(xs).map(|(w, x)| w * x).sum::<f32>();
                }
            }
        }
    }
    Tensor::new(out_shape.to_vec(), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{hinted_base, hinted_net, inverted_residual_net};

    #[test]
    fn a_hinted_net_without_hints_is_its_base_and_with_hints_is_not() {
        let net = hinted_net(16, 4, 5);
        let base = hinted_base(&net);
        let x = values(16 * 16, 2);
        let auto = forward(&base, &x).unwrap();
        // No hints and all-zero hints: the base's logits, bit for bit.
        assert_eq!(forward(&net, &x).unwrap(), auto);
        let zeros = vec![0.0; 3 * 4 * 4];
        assert_eq!(forward_hinted(&net, &x, Some(&zeros)).unwrap(), auto);
        // A hint changes the logits around it.
        let mut hints = zeros.clone();
        hints[5] = 1.0;
        hints[16 + 5] = -0.5;
        let hinted = forward_hinted(&net, &x, Some(&hints)).unwrap();
        assert_eq!(hinted.shape, auto.shape);
        assert!(hinted.data.iter().zip(&auto.data).any(|(a, b)| a != b));
        // Wrong sizes and hints for a net without them are errors.
        assert!(forward_hinted(&net, &x, Some(&zeros[1..])).is_err());
        assert!(forward_hinted(&base, &x, Some(&zeros)).is_err());
        // The hints must be at the output's size.
        let mut bad = net.clone();
        bad.hints = Some((8, 8));
        assert!(infer_shapes(&bad).is_err());
    }

    /// Deterministic values in -1..1.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn tensor(shape: Vec<usize>, seed: u64) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape, values(n, seed))
    }

    fn conv(weight: Tensor, bias: Vec<f32>, stride: usize, padding: usize, groups: usize) -> Op {
        Op::Conv2d {
            weight,
            bias,
            stride,
            padding,
            dilation: 1,
            groups,
        }
    }

    /// Shape inference, then the op, on one input.
    fn run(op: &Op, x: &Tensor) -> Result<Tensor> {
        let node = Node {
            name: "op".into(),
            op: op.clone(),
            inputs: vec!["x".into()],
            output: "y".into(),
        };
        let shape = node_shape(&node, &[&x.shape])?;
        Ok(eval(op, &[x], &shape))
    }

    /// The textbook formula, one output at a time, for groups = 1.
    fn plain_conv(x: &Tensor, w: &Tensor, bias: &[f32], stride: usize, pad: usize) -> Tensor {
        let [n, c, h, wd] = nchw(&x.shape).unwrap();
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3]);
        let oh = conv_out_len(h, kh, stride, pad, 1).unwrap();
        let ow = conv_out_len(wd, kw, stride, pad, 1).unwrap();
        let mut out = Vec::new();
        for b in 0..n {
            for (oc, bias) in bias.iter().enumerate().take(o) {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = *bias;
                        for ic in 0..c {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * stride + ky) as isize - pad as isize;
                                    let ix = (ox * stride + kx) as isize - pad as isize;
                                    if (0..h as isize).contains(&iy)
                                        && (0..wd as isize).contains(&ix)
                                    {
                                        acc += x.data
                                            [((b * c + ic) * h + iy as usize) * wd + ix as usize]
                                            * w.data[((oc * c + ic) * kh + ky) * kw + kx];
                                    }
                                }
                            }
                        }
                        out.push(acc);
                    }
                }
            }
        }
        Tensor::new(vec![n, o, oh, ow], out)
    }

    /// Entries `range` of `x`'s axis `axis`, the axes before it of size 1.
    fn slice(x: &Tensor, axis: usize, range: std::ops::Range<usize>) -> Tensor {
        assert!(x.shape[..axis].iter().all(|d| *d == 1));
        let per: usize = x.shape[axis + 1..].iter().product();
        let mut shape = x.shape.clone();
        shape[axis] = range.len();
        Tensor::new(shape, x.data[range.start * per..range.end * per].to_vec())
    }

    #[test]
    fn plain_conv_is_the_textbook_formula() {
        for (stride, pad, k) in [(1, 1, 3), (2, 1, 3), (2, 2, 5), (1, 0, 1)] {
            let x = tensor(vec![1, 3, 7, 6], 1);
            let w = tensor(vec![4, 3, k, k], 2);
            let bias = values(4, 3);
            let got = run(&conv(w.clone(), bias.clone(), stride, pad, 1), &x).unwrap();
            assert_eq!(
                got,
                plain_conv(&x, &w, &bias, stride, pad),
                "k {k} stride {stride}"
            );
        }
    }

    #[test]
    fn grouped_conv_is_one_plain_conv_per_group() {
        // 6 -> 9 channels in 3 groups, and depthwise (6 -> 6 in 6 groups).
        for (cout, groups, k, stride) in [(9, 3, 3, 1), (9, 3, 5, 2), (6, 6, 3, 2), (6, 6, 5, 1)] {
            let (cin, pad) = (6, k / 2);
            let (ig, og) = (cin / groups, cout / groups);
            let x = tensor(vec![1, cin, 9, 8], 4);
            let w = tensor(vec![cout, ig, k, k], 5);
            let bias = values(cout, 6);
            let got = run(&conv(w.clone(), bias.clone(), stride, pad, groups), &x).unwrap();
            let mut want = Vec::new();
            for g in 0..groups {
                let part = plain_conv(
                    &slice(&x, 1, g * ig..(g + 1) * ig),
                    &slice(&w, 0, g * og..(g + 1) * og),
                    &bias[g * og..(g + 1) * og],
                    stride,
                    pad,
                );
                want.extend(part.data);
            }
            assert_eq!(got.shape[1], cout);
            assert_eq!(got.data, want, "{groups} groups, k {k}, stride {stride}");
        }
    }

    #[test]
    fn depthwise_stride_2_by_hand() {
        // 5x5 input, 2 channels: all ones, and the column index. Weights all
        // ones, so an output is the sum over its window's in-bounds pixels.
        let mut x = vec![1.0; 25];
        x.extend((0..25).map(|i| (i % 5) as f32));
        let x = Tensor::new(vec![1, 2, 5, 5], x);
        let bias = vec![0.5, -1.0];
        // k = 3, padding 1: windows centred on rows/columns 0, 2, 4 cover
        // 2, 3, 2 of them; the column sums are 0+1, 1+2+3, 3+4.
        // k = 5, padding 2: 3, 5, 3 rows/columns; sums 0+1+2, 0..=4, 2+3+4.
        type Plane = [[f32; 3]; 3];
        let cases: [(usize, Plane, Plane); 2] = [
            (
                3,
                [[4., 6., 4.], [6., 9., 6.], [4., 6., 4.]],
                [[2., 12., 14.], [3., 18., 21.], [2., 12., 14.]],
            ),
            (
                5,
                [[9., 15., 9.], [15., 25., 15.], [9., 15., 9.]],
                [[9., 30., 27.], [15., 50., 45.], [9., 30., 27.]],
            ),
        ];
        for (k, ones, cols) in cases {
            let w = Tensor::new(vec![2, 1, k, k], vec![1.0; 2 * k * k]);
            let y = run(&conv(w, bias.clone(), 2, k / 2, 2), &x).unwrap();
            assert_eq!(y.shape, [1, 2, 3, 3], "k {k}");
            let want: Vec<f32> = (ones.iter().flatten().map(|v| v + 0.5))
                .chain(cols.iter().flatten().map(|v| v - 1.0))
                .collect();
            assert_eq!(y.data, want, "k {k}");
        }
    }

    #[test]
    fn grouped_conv_shapes_are_checked() {
        let x = tensor(vec![1, 6, 8, 8], 7);
        let bad = |w: Vec<usize>, groups| {
            let o = w[0];
            run(&conv(tensor(w, 8), vec![0.0; o], 1, 1, groups), &x).unwrap_err()
        };
        // Weight for 6 input channels per group, but 3 groups: 2 per group.
        assert!(format!("{:#}", bad(vec![6, 6, 3, 3], 3)).contains("per group"));
        // Groups that do not divide the channels, and 0 groups.
        assert!(format!("{:#}", bad(vec![6, 1, 3, 3], 4)).contains("divide"));
        assert!(format!("{:#}", bad(vec![7, 1, 3, 3], 6)).contains("divide"));
        assert!(format!("{:#}", bad(vec![6, 1, 3, 3], 0)).contains("divide"));
    }

    #[test]
    fn clip_clamps_and_needs_bounds_in_order() {
        let x = Tensor::new(vec![1, 1, 1, 5], vec![-3.0, 0.0, 2.5, 6.0, 9.0]);
        let y = run(&Op::Clip { min: 0.0, max: 6.0 }, &x).unwrap();
        assert_eq!(y.data, [0.0, 0.0, 2.5, 6.0, 6.0]);
        assert_eq!(y.shape, x.shape);
        assert!(run(&Op::Clip { min: 1.0, max: 0.0 }, &x).is_err());
        assert!(run(
            &Op::Clip {
                min: f32::NAN,
                max: 6.0
            },
            &x
        )
        .is_err());
    }

    #[test]
    fn global_avg_pool_averages_each_plane() {
        let x = Tensor::new(
            vec![2, 2, 2, 3],
            (0..24).map(|v| v as f32).collect::<Vec<_>>(),
        );
        let y = run(&Op::GlobalAvgPool, &x).unwrap();
        assert_eq!(y.shape, [2, 2, 1, 1]);
        assert_eq!(y.data, [2.5, 8.5, 14.5, 20.5]);
        let flat = Tensor::new(vec![1, 4], vec![0.0; 4]);
        assert!(run(&Op::GlobalAvgPool, &flat).is_err());
    }

    #[test]
    fn inverted_residual_net_gives_ab_at_a_quarter_size() {
        // 64x64 with 96 expanded channels: the size a real encoder block
        // has, so a slow reference would show here.
        let net = inverted_residual_net(64, 24, 3);
        let shapes = infer_shapes(&net).unwrap();
        assert_eq!(shapes[OUTPUT_NAME], [1, 2, 16, 16]);
        assert_eq!(shapes["b1_dw.out"], [1, 96, 32, 32]);
        let t = std::time::Instant::now();
        let y = forward(&net, &values(64 * 64, 9)).unwrap();
        println!("inverted_residual_net(64, 24) forward: {:?}", t.elapsed());
        assert!(y.data.iter().all(|v| v.abs() <= 1.0));
        let spread = y.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(spread > 0.01, "degenerate net: output max |v| {spread}");
    }
}
