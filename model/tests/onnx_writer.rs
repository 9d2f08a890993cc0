//! The ONNX writer against the plain-Rust reference forward pass: every op,
//! in float and in int8, each written model run by tract (the device's
//! runtime) and checked against the contract.

use colorize_model::forward::forward;
use colorize_model::net::{Net, Node, Op, Tensor};
use colorize_model::onnx::{to_onnx, to_onnx_int8};
use colorize_model::pb::ModelProto;
use colorize_model::synthetic::{conv_net, hinted_net, inverted_residual_net, mlp_net};
use colorize_model::Message;
use colorize_shared::contract::{self, meta, ModelGeometry, OutputKind, OUTPUT_NAME};
use tract_onnx::prelude::*;

/// A written model run by tract, the runtime the device uses: the plan, the
/// geometry the contract reads from its shapes, and its card.
struct Model {
    plan: std::sync::Arc<TypedRunnableModel>,
    geometry: ModelGeometry,
    metadata: Vec<(String, String)>,
}

impl Model {
    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Model> {
        let proto = ModelProto::decode(bytes)?;
        colorize_model::integrity::verify(&proto, "test model")?;
        let metadata = proto
            .metadata_props
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        let typed = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])?
            .into_typed()?;
        let shape = |fact: &TypedFact| fact.shape.as_concrete().unwrap().to_vec();
        let geometry =
            contract::check_shapes(&shape(typed.input_fact(0)?), &shape(typed.output_fact(0)?))
                .map_err(anyhow::Error::msg)?;
        let plan = typed.into_optimized()?.into_runnable()?;
        Ok(Model {
            plan,
            geometry,
            metadata,
        })
    }

    fn geometry(&self) -> ModelGeometry {
        self.geometry
    }

    fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn run(&self, input: &[f32]) -> anyhow::Result<Vec<f32>> {
        let g = self.geometry;
        let t = tract_onnx::prelude::Tensor::from_shape(&[1, 1, g.height, g.width], input)?;
        let out = self.plan.run(tvec![t.into()])?;
        let out = out[0].try_as_plain_ram()?;
        Ok(out.as_slice::<f32>()?.to_vec())
    }
}

/// Deterministic inputs in the contract's -1..1 range.
fn noise(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// A smooth gradient with a bright disc: what a photo's L* looks like.
fn smooth(size: usize, phase: f32) -> Vec<f32> {
    (0..size * size)
        .map(|i| {
            let (x, y) = (
                (i % size) as f32 / size as f32,
                (i / size) as f32 / size as f32,
            );
            let disc = if (x - 0.6).powi(2) + (y - 0.4).powi(2) < 0.05 {
                0.5
            } else {
                0.0
            };
            (0.8 * (x * 3.0 + phase).sin() * (y * 2.0).cos() + disc - 0.2).clamp(-1.0, 1.0)
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_f32(net: &Net, seeds: std::ops::Range<u32>) -> f32 {
    let model = Model::from_bytes(&to_onnx(net).unwrap()).unwrap();
    let n = net.input_height * net.input_width;
    let mut worst = 0f32;
    for seed in seeds {
        let x = noise(n, seed);
        let want = forward(net, &x).unwrap();
        let got = model.run(&x).unwrap();
        worst = worst.max(max_abs_diff(&got, &want.data));
    }
    worst
}

#[test]
fn float_conv_net_matches_reference() {
    let d = check_f32(&conv_net(8, 4, 7), 0..4);
    println!("conv net: tract vs reference max abs diff {d:e}");
    assert!(d < 1e-4, "{d}");
}

#[test]
fn float_mlp_net_matches_reference() {
    let d = check_f32(&mlp_net(6, 8, 3), 0..4);
    println!("mlp net: tract vs reference max abs diff {d:e}");
    assert!(d < 1e-4, "{d}");
}

/// Each op alone, so a mismatch names the op: a conv with stride, padding
/// and dilation, then the op under test, then a 1x1 conv to 2 channels.
#[test]
fn each_op_matches_reference() {
    let size = 8;
    let w = |shape: Vec<usize>, seed: u32| {
        let n = shape.iter().product();
        Tensor::new(shape, noise(n, seed).iter().map(|v| v * 0.5).collect())
    };
    let node = |name: &str, op: Op, inputs: &[&str], output: &str| Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        output: output.into(),
    };
    let conv =
        |name: &str, cin, cout, k, stride, padding, dilation, input: &str, output: &str, seed| {
            node(
                name,
                Op::Conv2d {
                    weight: w(vec![cout, cin, k, k], seed),
                    bias: noise(cout, seed + 1),
                    stride,
                    padding,
                    dilation,
                    groups: 1,
                },
                &[input],
                output,
            )
        };
    let grouped = |name: &str, cin, cout, k, stride, groups, input: &str, output: &str, seed| {
        node(
            name,
            Op::Conv2d {
                weight: w(vec![cout, cin / groups, k, k], seed),
                bias: noise(cout, seed + 1),
                stride,
                padding: k / 2,
                dilation: 1,
                groups,
            },
            &[input],
            output,
        )
    };
    let head = |input: &str, c| conv("head", c, 2, 1, 1, 0, 1, input, OUTPUT_NAME, 99);
    let cases: Vec<(&str, Vec<Node>)> = vec![
        (
            "conv 3x3",
            vec![conv("c", 1, 3, 3, 1, 1, 1, "L", "x", 1), head("x", 3)],
        ),
        (
            "conv dilated 5x5",
            vec![conv("c", 1, 3, 5, 1, 4, 2, "L", "x", 2), head("x", 3)],
        ),
        (
            "conv stride 2 + upsample",
            vec![
                conv("c", 1, 3, 3, 2, 1, 1, "L", "x", 3),
                node("u", Op::Upsample2x, &["x"], "y"),
                head("y", 3),
            ],
        ),
        (
            "relu, tanh",
            vec![
                conv("c", 1, 3, 3, 1, 1, 1, "L", "x", 4),
                node("r", Op::Relu, &["x"], "y"),
                conv("c2", 3, 2, 3, 1, 1, 1, "y", "z", 5),
                node("t", Op::Tanh, &["z"], OUTPUT_NAME),
            ],
        ),
        (
            "concat, add",
            vec![
                conv("c", 1, 3, 3, 1, 1, 1, "L", "x", 6),
                conv("c2", 1, 3, 1, 1, 0, 1, "L", "y", 7),
                node("cat", Op::Concat, &["x", "y", "L"], "z"),
                conv("c3", 7, 3, 3, 1, 1, 1, "z", "q", 8),
                node("add", Op::Add, &["q", "x"], "s"),
                head("s", 3),
            ],
        ),
        (
            "grouped conv 3x3",
            vec![
                conv("c", 1, 4, 3, 1, 1, 1, "L", "x", 11),
                grouped("g", 4, 6, 3, 1, 2, "x", "y", 12),
                head("y", 6),
            ],
        ),
        (
            // The head then gives a*b* at half the input's size.
            "depthwise 5x5 stride 2",
            vec![
                conv("c", 1, 4, 3, 1, 1, 1, "L", "x", 13),
                grouped("dw", 4, 4, 5, 2, 4, "x", "y", 14),
                head("y", 4),
            ],
        ),
        (
            "clip",
            vec![
                conv("c", 1, 3, 3, 1, 1, 1, "L", "x", 15),
                node(
                    "clip",
                    Op::Clip {
                        min: -0.2,
                        max: 0.3,
                    },
                    &["x"],
                    "y",
                ),
                head("y", 3),
            ],
        ),
        (
            "global average pool",
            vec![
                conv("c", 1, 3, 3, 1, 1, 1, "L", "x", 16),
                node("pool", Op::GlobalAvgPool, &["x"], "p"),
                node("f", Op::Flatten, &["p"], "y"),
                node(
                    "fc",
                    Op::Linear {
                        weight: w(vec![2 * size * size, 3], 17),
                        bias: noise(2 * size * size, 18),
                    },
                    &["y"],
                    "z",
                ),
                node(
                    "r",
                    Op::Reshape {
                        shape: vec![1, 2, size, size],
                    },
                    &["z"],
                    OUTPUT_NAME,
                ),
            ],
        ),
        (
            "flatten, linear, reshape",
            vec![
                node("f", Op::Flatten, &["L"], "x"),
                node(
                    "fc",
                    Op::Linear {
                        weight: w(vec![2 * size * size, size * size], 9),
                        bias: noise(2 * size * size, 10),
                    },
                    &["x"],
                    "y",
                ),
                node(
                    "r",
                    Op::Reshape {
                        shape: vec![1, 2, size, size],
                    },
                    &["y"],
                    OUTPUT_NAME,
                ),
            ],
        ),
    ];
    for (what, nodes) in cases {
        let net = Net {
            arch: what.into(),
            input_height: size,
            input_width: size,
            hints: None,
            nodes,
            metadata: vec![],
        };
        let d = check_f32(&net, 0..2);
        println!("{what}: max abs diff {d:e}");
        assert!(d < 1e-4, "{what}: tract differs from the reference by {d}");
    }
}

#[test]
fn model_card_is_written() {
    let mut net = conv_net(8, 4, 1);
    net.metadata
        .push((meta::WEIGHTS_SHA256.into(), "abc123".into()));
    let f = Model::from_bytes(&to_onnx(&net).unwrap()).unwrap();
    assert_eq!(f.meta(meta::WEIGHTS_SHA256), Some("abc123"));
    assert_eq!(f.meta(meta::ARCH), Some("bootstrap-conv"));
    assert_eq!(f.meta(meta::INPUT_SIZE), Some("8"));
    assert_eq!(f.meta(meta::CONTRACT_VERSION), Some("1"));
    assert_eq!(f.meta(meta::QUANTIZATION), Some("none (f32)"));
    let q = Model::from_bytes(&to_onnx_int8(&net, &[smooth(8, 0.0)]).unwrap()).unwrap();
    assert!(q.meta(meta::QUANTIZATION).unwrap().starts_with("int8"));
    assert_eq!(q.meta(meta::WEIGHTS_SHA256), Some("abc123"));
}

#[test]
fn int8_is_close_to_float_on_smooth_input() {
    let size = 16;
    let net = conv_net(size, 8, 11);
    let calib: Vec<Vec<f32>> = (0..4).map(|k| smooth(size, k as f32)).collect();
    let bytes = to_onnx_int8(&net, &calib).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("QLinearConv"),
        "no QLinearConv in the int8 graph"
    );
    assert!(!text.contains("\"Conv"), "a float conv is left");
    let q = Model::from_bytes(&bytes).unwrap();
    let f = Model::from_bytes(&to_onnx(&net).unwrap()).unwrap();
    let x = smooth(size, 0.5);
    let (yq, yf) = (q.run(&x).unwrap(), f.run(&x).unwrap());
    let d = max_abs_diff(&yq, &yf);
    let mean = yq.iter().zip(&yf).map(|(a, b)| (a - b).abs()).sum::<f32>() / yq.len() as f32;
    let spread = yf.iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("int8 vs f32: max abs diff {d}, mean {mean}, f32 output max |v| {spread}");
    // tanh outputs: a* = 128 v, so 0.05 is about 6 a* units at worst.
    assert!(
        d < 0.05 && mean < 0.01,
        "int8 too far from f32: max {d}, mean {mean}"
    );
    assert!(spread > 0.05, "degenerate test: the f32 output is flat");
}

/// The op types of an ONNX model's graph, in order, and the `group` of each
/// convolution.
fn graph_ops(bytes: &[u8]) -> (Vec<String>, Vec<i64>) {
    let graph = ModelProto::decode(bytes).unwrap().graph.unwrap();
    let ops = graph.node.iter().map(|n| n.op_type.clone()).collect();
    let groups = graph
        .node
        .iter()
        .filter(|n| n.op_type.ends_with("Conv"))
        .map(|n| n.attribute.iter().find(|a| a.name == "group").unwrap().i)
        .collect();
    (ops, groups)
}

/// An EfficientNet-Lite-shaped net (1x1 expansion, ReLU6, depthwise 3x3 and
/// 5x5 stride 2, projection, residual add, global-average-pool branch)
/// whose a*b* come out at a quarter of the input's size.
#[test]
fn float_inverted_residual_net_matches_reference() {
    let net = inverted_residual_net(16, 4, 5);
    let bytes = to_onnx(&net).unwrap();
    let (ops, groups) = graph_ops(&bytes);
    for op in ["Clip", "GlobalAveragePool", "Gemm", "Add", "Tanh"] {
        assert!(ops.iter().any(|o| o == op), "no {op} in {ops:?}");
    }
    // stem, two expansions, two depthwise (16 channels), two projections, head.
    assert_eq!(groups, [1, 1, 16, 1, 1, 16, 1, 1]);
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(
        model.geometry().output,
        OutputKind::Ab {
            height: 4,
            width: 4
        }
    );
    let d = check_f32(&net, 0..4);
    println!("inverted-residual net: tract vs reference max abs diff {d:e}");
    assert!(d < 1e-4, "{d}");
}

#[test]
fn int8_inverted_residual_net_is_close_to_reference() {
    let size = 32;
    let net = inverted_residual_net(size, 8, 21);
    let calib: Vec<Vec<f32>> = (0..4).map(|k| smooth(size, k as f32)).collect();
    let bytes = to_onnx_int8(&net, &calib).unwrap();
    let (ops, groups) = graph_ops(&bytes);
    assert!(
        ops.iter().all(|o| o != "Conv"),
        "a float conv is left: {ops:?}"
    );
    assert_eq!(groups, [1, 1, 32, 1, 1, 32, 1, 1], "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "Clip").count(), 6);
    let q = Model::from_bytes(&bytes).unwrap();
    let mut worst = (0f32, 0f32);
    for phase in [0.5, 2.5] {
        let x = smooth(size, phase);
        let (yq, want) = (q.run(&x).unwrap(), forward(&net, &x).unwrap());
        assert_eq!(yq.len(), 2 * (size / 4) * (size / 4));
        let d = max_abs_diff(&yq, &want.data);
        let mean = yq
            .iter()
            .zip(&want.data)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / yq.len() as f32;
        let spread = want.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        println!("int8 vs reference: max abs diff {d}, mean {mean}, output max |v| {spread}");
        assert!(spread > 0.05, "degenerate test: the output is flat");
        worst = (worst.0.max(d), worst.1.max(mean));
    }
    // a* = 128 v: 0.02 is 2.6 a* units at worst (measured: 0.004, mean
    // 0.001, for outputs up to 0.15).
    assert!(
        worst.0 < 0.02 && worst.1 < 0.005,
        "int8 too far from the reference: max {}, mean {}",
        worst.0,
        worst.1
    );
}

/// A hinted net is written with its second input, and its int8 version
/// quantizes the base and keeps the hint branch (which calibration, without
/// hints, never sees anything but zeros in) in float.
#[test]
fn hinted_net_has_a_hints_input_and_a_float_hint_branch_in_int8() {
    let net = hinted_net(16, 4, 3);
    let inputs = |bytes: &[u8]| -> Vec<String> {
        let p = ModelProto::decode(bytes).unwrap();
        p.graph.unwrap().input.into_iter().map(|i| i.name).collect()
    };
    let f32_bytes = to_onnx(&net).unwrap();
    assert_eq!(
        inputs(&f32_bytes),
        [contract::INPUT_NAME, contract::HINTS_NAME]
    );
    let calib: Vec<Vec<f32>> = (0..3)
        .map(|k| {
            (0..256)
                .map(|i| ((i * 7 + k * 13) % 50) as f32 / 25.0 - 1.0)
                .collect()
        })
        .collect();
    let int8 = to_onnx_int8(&net, &calib).unwrap();
    assert_eq!(inputs(&int8), [contract::INPUT_NAME, contract::HINTS_NAME]);
    let graph = ModelProto::decode(&int8[..]).unwrap().graph.unwrap();
    let ops = |t: &str| -> Vec<String> {
        graph
            .node
            .iter()
            .filter(|n| n.op_type == t)
            .map(|n| n.name.clone())
            .collect()
    };
    assert_eq!(ops("QLinearConv").len(), 4, "{:?}", ops("QLinearConv"));
    assert_eq!(ops("Conv"), ["hint_in", "hint_out"]);
    // tract loads it with both inputs.
    let model = tract_onnx::onnx()
        .model_for_read(&mut &int8[..])
        .unwrap()
        .into_typed()
        .unwrap();
    assert_eq!(model.inputs.len(), 2);
}
