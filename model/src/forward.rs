//! A plain-Rust forward pass and shape inference for [`Net`]: the reference
//! the ONNX writer is tested against (and that a trainer can check its
//! hand-over against), independent of tract and of ONNX semantics.
//!
//! Naive loops, written to be obviously right rather than fast.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use colorize_shared::contract::{INPUT_NAME, OUTPUT_NAME};

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
        } => {
            let [n, c, h, w] = nchw(one_input(inputs)?)?;
            let [o, i, kh, kw] = match *weight.shape {
                [o, i, kh, kw] => [o, i, kh, kw],
                _ => bail!(
                    "conv weight must be [out, in, kh, kw], got {:?}",
                    weight.shape
                ),
            };
            ensure!(i == c, "conv weight takes {i} channels, input has {c}");
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
        Op::Add => {
            ensure!(
                inputs.len() == 2,
                "add takes two inputs, got {}",
                inputs.len()
            );
            ensure!(
                inputs[0] == inputs[1],
                "add of shapes {:?} and {:?}",
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
/// the output tensor.
pub fn forward(net: &Net, input: &[f32]) -> Result<Tensor> {
    Ok(forward_all(net, input)?
        .remove(OUTPUT_NAME)
        .expect("infer_shapes checked the output"))
}

/// Like [`forward`], but returns every tensor by name.
pub fn forward_all(net: &Net, input: &[f32]) -> Result<HashMap<String, Tensor>> {
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
        } => {
            let x = inputs[0];
            let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
            let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3]);
            let (oh, ow) = (out_shape[2], out_shape[3]);
            for b in 0..n {
                for oc in 0..o {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = bias[oc];
                            for ic in 0..c {
                                for ky in 0..kh {
                                    let iy =
                                        (oy * stride + ky * dilation) as isize - *padding as isize;
                                    if iy < 0 || iy >= h as isize {
                                        continue;
                                    }
                                    for kx in 0..kw {
                                        let ix = (ox * stride + kx * dilation) as isize
                                            - *padding as isize;
                                        if ix < 0 || ix >= w as isize {
                                            continue;
                                        }
                                        let xv = x.data
                                            [((b * c + ic) * h + iy as usize) * w + ix as usize];
                                        let wv = weight.data[((oc * c + ic) * kh + ky) * kw + kx];
                                        acc += xv * wv;
                                    }
                                }
                            }
                            out[((b * o + oc) * oh + oy) * ow + ox] = acc;
                        }
                    }
                }
            }
        }
        Op::Relu => return map(inputs[0], |v| v.max(0.0)),
        Op::Tanh => return map(inputs[0], f32::tanh),
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
