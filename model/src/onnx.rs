//! [`Net`] -> ONNX, written with the schema subset of [`crate::pb`].
//!
//! - [`to_onnx`]: float graph, opset 13.
//! - [`to_onnx_int8`]: the same graph with every convolution as int8
//!   `QLinearConv` (per-tensor scales, symmetric int8 weights, asymmetric int8
//!   activations, int32 bias), activation ranges calibrated by running the
//!   reference forward pass ([`crate::forward`]). A Relu that is a convolution's only consumer is
//!   folded into the convolution's output range, and a quantized tensor feeds
//!   the next convolution directly, so conv -> relu -> conv chains stay int8.
//!   Grouped (depthwise) convolutions are QLinearConv too, with `group`.
//!   Linear (Gemm), Resize, Concat, Add, Clip, GlobalAveragePool and Tanh
//!   stay float; a Clip (ReLU6) is not folded like a Relu but runs on the
//!   dequantized convolution output, and the next convolution quantizes its
//!   result with the calibrated range again.
//!
//! The model card (`Net::metadata`) goes into `metadata_props`, with the
//! SHA-256 of the initializers as written ([`crate::integrity`]).

use std::collections::HashMap;

use anyhow::{ensure, Context, Result};
use colorize_shared::contract::{self, meta, HINTS_NAME, INPUT_NAME, OUTPUT_NAME};
use prost::Message;

use crate::forward::{forward_all, infer_shapes};
use crate::net::{Net, Op};
use crate::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Opset 13: QLinearConv, Resize with `scales`, Gemm; inside the 9..=18 range
/// tract is tested against.
pub const OPSET: i64 = 13;
/// The IR version that goes with opset 13.
const IR_VERSION: i64 = 7;
pub const PRODUCER: &str = "colorize";

/// The float ONNX model of `net`.
pub fn to_onnx(net: &Net) -> Result<Vec<u8>> {
    let shapes = infer_shapes(net).with_context(|| format!("net `{}` is not valid", net.arch))?;
    let mut g = GraphWriter::default();
    for node in &net.nodes {
        g.float_node(node, &shapes)?;
    }
    let model = g.finish(net, &shapes, "none (f32)")?;
    Ok(model.encode_to_vec())
}

/// The int8 ONNX model of `net`; `calibration` holds model inputs
/// (`input_height * input_width` values each, contract scaling) whose
/// activations set the quantization ranges.
pub fn to_onnx_int8(net: &Net, calibration: &[Vec<f32>]) -> Result<Vec<u8>> {
    ensure!(
        !calibration.is_empty(),
        "int8 export needs at least one calibration input"
    );
    let shapes = infer_shapes(net).with_context(|| format!("net `{}` is not valid", net.arch))?;
    let ranges = calibrate(net, calibration)?;

    let mut consumers: HashMap<&str, usize> = HashMap::new();
    for node in &net.nodes {
        for i in &node.inputs {
            *consumers.entry(i.as_str()).or_default() += 1;
        }
    }
    let mut g = GraphWriter::default();
    // Float tensor name -> its int8 version and quantization.
    let mut quantized: HashMap<String, (String, QParams)> = HashMap::new();
    // Float tensors that exist in the graph (a fused relu output may exist
    // only in int8 until a float consumer asks for it).
    let mut have_float: std::collections::HashSet<String> =
        [INPUT_NAME.to_string(), HINTS_NAME.to_string()].into();
    let mut skip_relu: std::collections::HashSet<usize> = Default::default();

    for (ix, node) in net.nodes.iter().enumerate() {
        if skip_relu.contains(&ix) {
            continue;
        }
        // A conv whose input was all zeros in calibration (a hinted net's
        // hint branch: calibration gives no hints) has no range to quantize
        // to, and stays float.
        let calibrated = |x: &String| ranges.get(x.as_str()).is_some_and(|&r| r != (0.0, 0.0));
        if let (
            Op::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                groups,
            },
            true,
        ) = (&node.op, calibrated(&node.inputs[0]))
        {
            let x = &node.inputs[0];
            let (xq, xp) = match quantized.get(x) {
                Some(q) => q.clone(),
                None => {
                    let p = QParams::from_range(ranges[x.as_str()]);
                    let name = g.quantize(x, p);
                    quantized.insert(x.clone(), (name.clone(), p));
                    (name, p)
                }
            };
            // Fold a following Relu that is the only reader of this conv.
            let relu = net
                .nodes
                .iter()
                .enumerate()
                .skip(ix + 1)
                .find(|(_, n)| n.inputs.contains(&node.output));
            let (out_name, fused) = match relu {
                Some((j, n)) if n.op == Op::Relu && consumers[node.output.as_str()] == 1 => {
                    skip_relu.insert(j);
                    (n.output.clone(), true)
                }
                _ => (node.output.clone(), false),
            };
            let (lo, hi) = ranges[out_name.as_str()];
            let yp = QParams::from_range(if fused { (0.0, hi) } else { (lo, hi) });
            let yq = g.qlinear_conv(
                &node.name,
                &xq,
                xp,
                weight,
                bias,
                ConvGeometry {
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                    groups: *groups,
                },
                yp,
            )?;
            quantized.insert(out_name, (yq, yp));
            continue;
        }
        // Float op: make sure every input exists in float.
        for i in &node.inputs {
            if !have_float.contains(i) {
                let (q, p) = &quantized[i];
                g.dequantize(q, p, i);
                have_float.insert(i.clone());
            }
        }
        g.float_node(node, &shapes)?;
        have_float.insert(node.output.clone());
    }
    if !have_float.contains(OUTPUT_NAME) {
        let (q, p) = &quantized[OUTPUT_NAME];
        g.dequantize(q, p, OUTPUT_NAME);
    }
    let model = g.finish(
        net,
        &shapes,
        &format!(
            "int8 per-tensor QLinearConv (symmetric weights, asymmetric activations), calibrated on {} inputs",
            calibration.len()
        ),
    )?;
    Ok(model.encode_to_vec())
}

/// Per-tensor affine int8 quantization: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QParams {
    scale: f32,
    zero_point: i8,
}

impl QParams {
    /// Covers `lo..=hi` widened to include 0, so zero padding and Relu's
    /// floor are exact.
    fn from_range((lo, hi): (f32, f32)) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = ((hi - lo) / 255.0).max(1e-8);
        let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
        QParams {
            scale,
            zero_point: zp as i8,
        }
    }
}

/// min/max of each tensor of `net` over the calibration inputs, from the
/// reference forward pass: the quantized graph needs the ranges of conv
/// inputs and outputs (and of the Relus folded into them), and the reference
/// computes every tensor anyway.
fn calibrate(net: &Net, inputs: &[Vec<f32>]) -> Result<HashMap<String, (f32, f32)>> {
    let mut ranges: HashMap<String, (f32, f32)> = HashMap::new();
    for (k, input) in inputs.iter().enumerate() {
        let tensors = forward_all(net, input).with_context(|| format!("calibration input {k}"))?;
        for (name, t) in tensors {
            let (lo, hi) = t
                .data
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), x| {
                    (l.min(*x), h.max(*x))
                });
            let e = ranges.entry(name).or_insert((lo, hi));
            *e = (e.0.min(lo), e.1.max(hi));
        }
    }
    Ok(ranges)
}

#[derive(Default)]
struct GraphWriter {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn attr_str(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn tensor_proto(name: &str, dims: &[usize], data_type: DataType, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: data_type as i32,
        raw_data,
        ..Default::default()
    }
}

fn value_info(name: &str, elem: DataType, shape: Option<&[usize]>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: shape.map(|s| TensorShapeProto {
                    dim: s
                        .iter()
                        .map(|d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(*d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A convolution's attributes besides its weights.
#[derive(Clone, Copy)]
struct ConvGeometry {
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
}

fn conv_attrs(weight_shape: &[usize], geo: ConvGeometry) -> Vec<AttributeProto> {
    let (s, p, d) = (geo.stride as i64, geo.padding as i64, geo.dilation as i64);
    vec![
        attr_ints(
            "kernel_shape",
            &[weight_shape[2] as i64, weight_shape[3] as i64],
        ),
        attr_ints("strides", &[s, s]),
        attr_ints("pads", &[p, p, p, p]),
        attr_ints("dilations", &[d, d]),
        attr_int("group", geo.groups as i64),
    ]
}

impl GraphWriter {
    fn node(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            op_type: op_type.into(),
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute,
            ..Default::default()
        });
    }

    fn f32_init(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor_proto(name, dims, DataType::Float, raw));
        name.to_string()
    }

    fn i8_init(&mut self, name: &str, dims: &[usize], data: &[i8]) -> String {
        let raw = data.iter().map(|v| *v as u8).collect();
        self.initializers
            .push(tensor_proto(name, dims, DataType::Int8, raw));
        name.to_string()
    }

    fn i32_init(&mut self, name: &str, dims: &[usize], data: &[i32]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor_proto(name, dims, DataType::Int32, raw));
        name.to_string()
    }

    fn i64_init(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor_proto(name, dims, DataType::Int64, raw));
        name.to_string()
    }

    fn qparams_init(&mut self, prefix: &str, p: QParams) -> (String, String) {
        (
            self.f32_init(&format!("{prefix}.scale"), &[], &[p.scale]),
            self.i8_init(&format!("{prefix}.zero_point"), &[], &[p.zero_point]),
        )
    }

    /// Adds `QuantizeLinear(x)`, returns the int8 tensor's name.
    fn quantize(&mut self, x: &str, p: QParams) -> String {
        let out = format!("{x}.q");
        let (s, z) = self.qparams_init(&out, p);
        self.node(
            "QuantizeLinear",
            &format!("{x}.quantize"),
            &[x, &s, &z],
            &out,
            vec![],
        );
        out
    }

    /// Adds `DequantizeLinear(q)` writing float tensor `out`.
    fn dequantize(&mut self, q: &str, p: &QParams, out: &str) {
        let (s, z) = self.qparams_init(&format!("{q}.dq"), *p);
        self.node(
            "DequantizeLinear",
            &format!("{out}.dequantize"),
            &[q, &s, &z],
            out,
            vec![],
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn qlinear_conv(
        &mut self,
        name: &str,
        x: &str,
        xp: QParams,
        weight: &crate::net::Tensor,
        bias: &[f32],
        geo: ConvGeometry,
        yp: QParams,
    ) -> Result<String> {
        let wmax = weight.data.iter().fold(0f32, |m, v| m.max(v.abs()));
        let w_scale = if wmax > 0.0 { wmax / 127.0 } else { 1.0 };
        let wq: Vec<i8> = weight
            .data
            .iter()
            .map(|v| (v / w_scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let b_scale = xp.scale * w_scale;
        let bq: Vec<i32> = bias
            .iter()
            .map(|b| {
                (b / b_scale)
                    .round()
                    .clamp(i32::MIN as f32, i32::MAX as f32) as i32
            })
            .collect();
        let w = self.i8_init(&format!("{name}.weight_q"), &weight.shape, &wq);
        let ws = self.f32_init(&format!("{name}.weight_scale"), &[], &[w_scale]);
        let wz = self.i8_init(&format!("{name}.weight_zero_point"), &[], &[0]);
        let b = self.i32_init(&format!("{name}.bias_q"), &[bias.len()], &bq);
        let out = format!("{name}.out.q");
        let (ys, yz) = self.qparams_init(&out, yp);
        let (xs, xz) = self.qparams_init(&format!("{name}.in"), xp);
        self.node(
            "QLinearConv",
            name,
            &[x, &xs, &xz, &w, &ws, &wz, &ys, &yz, &b],
            &out,
            conv_attrs(&weight.shape, geo),
        );
        Ok(out)
    }

    fn float_node(
        &mut self,
        node: &crate::net::Node,
        shapes: &HashMap<String, Vec<usize>>,
    ) -> Result<()> {
        let name = node.name.as_str();
        let out = node.output.as_str();
        let ins: Vec<&str> = node.inputs.iter().map(String::as_str).collect();
        match &node.op {
            Op::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                groups,
            } => {
                let w = self.f32_init(&format!("{name}.weight"), &weight.shape, &weight.data);
                let b = self.f32_init(&format!("{name}.bias"), &[bias.len()], bias);
                self.node(
                    "Conv",
                    name,
                    &[ins[0], &w, &b],
                    out,
                    conv_attrs(
                        &weight.shape,
                        ConvGeometry {
                            stride: *stride,
                            padding: *padding,
                            dilation: *dilation,
                            groups: *groups,
                        },
                    ),
                );
            }
            Op::Relu => self.node("Relu", name, &ins, out, vec![]),
            Op::Tanh => self.node("Tanh", name, &ins, out, vec![]),
            Op::Clip { min, max } => {
                // Opset 11+ takes the bounds as inputs, not attributes.
                let lo = self.f32_init(&format!("{name}.min"), &[], &[*min]);
                let hi = self.f32_init(&format!("{name}.max"), &[], &[*max]);
                self.node("Clip", name, &[ins[0], &lo, &hi], out, vec![]);
            }
            Op::GlobalAvgPool => self.node("GlobalAveragePool", name, &ins, out, vec![]),
            Op::Upsample2x => {
                let scales = self.f32_init(&format!("{name}.scales"), &[4], &[1.0, 1.0, 2.0, 2.0]);
                // asymmetric + floor: output pixel i reads input i / 2, the
                // same as PyTorch's nearest upsampling.
                self.node(
                    "Resize",
                    name,
                    &[ins[0], "", &scales],
                    out,
                    vec![
                        attr_str("mode", "nearest"),
                        attr_str("coordinate_transformation_mode", "asymmetric"),
                        attr_str("nearest_mode", "floor"),
                    ],
                );
            }
            Op::Concat => self.node("Concat", name, &ins, out, vec![attr_int("axis", 1)]),
            Op::Add => self.node("Add", name, &ins, out, vec![]),
            Op::Mul => self.node("Mul", name, &ins, out, vec![]),
            Op::Flatten => self.node("Flatten", name, &ins, out, vec![attr_int("axis", 1)]),
            Op::Linear { weight, bias } => {
                let w = self.f32_init(&format!("{name}.weight"), &weight.shape, &weight.data);
                let b = self.f32_init(&format!("{name}.bias"), &[bias.len()], bias);
                self.node(
                    "Gemm",
                    name,
                    &[ins[0], &w, &b],
                    out,
                    vec![attr_int("transB", 1)],
                );
            }
            Op::Reshape { shape } => {
                let dims: Vec<i64> = shape.iter().map(|d| *d as i64).collect();
                let s = self.i64_init(&format!("{name}.shape"), &[dims.len()], &dims);
                self.node("Reshape", name, &[ins[0], &s], out, vec![]);
            }
        }
        debug_assert!(shapes.contains_key(out));
        Ok(())
    }

    /// Wraps the nodes into a model: input `L`, output `ab`, the model card.
    fn finish(
        self,
        net: &Net,
        shapes: &HashMap<String, Vec<usize>>,
        quantization: &str,
    ) -> Result<ModelProto> {
        let graph = GraphProto {
            name: net.arch.clone(),
            node: self.nodes,
            initializer: self.initializers,
            input: [INPUT_NAME, HINTS_NAME]
                .into_iter()
                .filter_map(|n| Some(value_info(n, DataType::Float, Some(shapes.get(n)?))))
                .collect(),
            output: vec![value_info(
                OUTPUT_NAME,
                DataType::Float,
                Some(&shapes[OUTPUT_NAME]),
            )],
            ..Default::default()
        };
        let mut model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: PRODUCER.into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
            metadata_props: model_card(net, quantization),
            ..Default::default()
        };
        crate::integrity::stamp(&mut model);
        Ok(model)
    }
}

/// `net.metadata`, plus the entries the writer knows better than the caller
/// (contract version, arch, input size, quantization).
fn model_card(net: &Net, quantization: &str) -> Vec<StringStringEntryProto> {
    let mut card: Vec<(String, String)> = net.metadata.clone();
    let mut set = |k: &str, v: String, force: bool| {
        if let Some(e) = card.iter_mut().find(|(key, _)| key == k) {
            if force {
                e.1 = v;
            }
        } else {
            card.push((k.to_string(), v));
        }
    };
    set(
        meta::CONTRACT_VERSION,
        contract::CONTRACT_VERSION.to_string(),
        true,
    );
    set(meta::ARCH, net.arch.clone(), false);
    let size = if net.input_width == net.input_height {
        net.input_width.to_string()
    } else {
        format!("{}x{}", net.input_width, net.input_height)
    };
    set(meta::INPUT_SIZE, size, true);
    set(meta::QUANTIZATION, quantization.to_string(), true);
    card.into_iter()
        .map(|(key, value)| StringStringEntryProto { key, value })
        .collect()
}
