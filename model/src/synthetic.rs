//! Small nets with fixed pseudo-random weights: the bootstrap model shipped
//! until a trained one replaces it, and test fixtures for the ONNX writer.
//! Between them they use every [`Op`].

use colorize_shared::contract::{
    meta, AB_BINS, AUTO_OUTPUT_NAME, HINTS_NAME, HINT_CHANNELS, OUTPUT_NAME,
};

use crate::net::{Net, Node, Op, Tensor};

/// A deterministic xorshift generator: the same seed gives the same weights
/// on every platform.
struct Rng(u64);

impl Rng {
    /// Uniform in -1..1.
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// He-style scale so activations neither vanish nor explode.
    fn tensor(&mut self, shape: Vec<usize>, fan_in: usize) -> Tensor {
        let s = (2.0 / fan_in as f32).sqrt();
        let n = shape.iter().product();
        Tensor::new(shape, (0..n).map(|_| self.next() * s).collect())
    }

    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn conv(
    rng: &mut Rng,
    name: &str,
    input: &str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
) -> Node {
    Node {
        name: name.into(),
        op: Op::Conv2d {
            weight: rng.tensor(vec![cout, cin, k, k], cin * k * k),
            bias: rng.vec(cout, 0.1),
            stride,
            padding: k / 2,
            dilation: 1,
            groups: 1,
        },
        inputs: vec![input.into()],
        output: format!("{name}.out"),
    }
}

/// A depthwise convolution: one `k x k` filter per channel.
fn depthwise(rng: &mut Rng, name: &str, input: &str, c: usize, k: usize, stride: usize) -> Node {
    Node {
        name: name.into(),
        op: Op::Conv2d {
            weight: rng.tensor(vec![c, 1, k, k], k * k),
            bias: rng.vec(c, 0.1),
            stride,
            padding: k / 2,
            dilation: 1,
            groups: c,
        },
        inputs: vec![input.into()],
        output: format!("{name}.out"),
    }
}

fn relu6(name: &str, input: &str) -> Node {
    unary(name, Op::Clip { min: 0.0, max: 6.0 }, input)
}

fn binary(name: &str, op: Op, a: &str, b: &str) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: vec![a.into(), b.into()],
        output: format!("{name}.out"),
    }
}

fn unary(name: &str, op: Op, input: &str) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: vec![input.into()],
        output: format!("{name}.out"),
    }
}

fn card(arch: &str, size: usize, seed: u64) -> Vec<(String, String)> {
    vec![
        (meta::MODEL_ID.into(), format!("{arch}-random-seed{seed}")),
        (meta::ARCH.into(), arch.into()),
        (meta::INPUT_SIZE.into(), size.to_string()),
        (
            meta::TRAINING_DATA.into(),
            "none: fixed pseudo-random weights (placeholder)".into(),
        ),
        (
            meta::TRAINING_COMMAND.into(),
            "cargo run -p colorize-device --example make_bootstrap_model".into(),
        ),
    ]
}

/// A small encoder-decoder: conv, strided conv, nearest upsampling, a skip
/// concatenation, a residual add and the tanh head. `size` must be even.
pub fn conv_net(size: usize, width: usize, seed: u64) -> Net {
    assert!(size >= 2 && size % 2 == 0, "conv_net: size must be even");
    let mut r = Rng(seed.max(1));
    let c = width;
    let mut nodes = vec![
        conv(&mut r, "enc1", "L", 1, c, 3, 1),
        unary("enc1_relu", Op::Relu, "enc1.out"),
        conv(&mut r, "down", "enc1_relu.out", c, 2 * c, 3, 2),
        unary("down_relu", Op::Relu, "down.out"),
        conv(&mut r, "mid", "down_relu.out", 2 * c, 2 * c, 3, 1),
        unary("mid_relu", Op::Relu, "mid.out"),
        unary("up", Op::Upsample2x, "mid_relu.out"),
        Node {
            name: "skip".into(),
            op: Op::Concat,
            inputs: vec!["up.out".into(), "enc1_relu.out".into()],
            output: "skip.out".into(),
        },
        conv(&mut r, "dec", "skip.out", 3 * c, c, 3, 1),
        unary("dec_relu", Op::Relu, "dec.out"),
        conv(&mut r, "res", "dec_relu.out", c, c, 1, 1),
        Node {
            name: "residual".into(),
            op: Op::Add,
            inputs: vec!["res.out".into(), "dec_relu.out".into()],
            output: "residual.out".into(),
        },
        conv(&mut r, "head", "residual.out", c, 2, 3, 1),
    ];
    let mut tanh = unary("tanh", Op::Tanh, "head.out");
    tanh.output = OUTPUT_NAME.into();
    nodes.push(tanh);
    Net {
        arch: "bootstrap-conv".into(),
        input_height: size,
        input_width: size,
        hints: None,
        nodes,
        metadata: card("bootstrap-conv", size, seed),
    }
}

/// An EfficientNet-Lite-shaped net with a regression head at 1/4 of the
/// input's size: a strided stem, an inverted-residual block (1x1 expansion,
/// ReLU6, depthwise 3x3, ReLU6, 1x1 projection, residual add), a strided
/// one with a depthwise 5x5, a global-context branch (global average pool,
/// linear, broadcast back by upsampling) concatenated with it, and a 1x1
/// tanh head. `size / 4` must be a power of two (the broadcast).
pub fn inverted_residual_net(size: usize, width: usize, seed: u64) -> Net {
    let q = size / 4;
    assert!(
        q >= 1 && size % 4 == 0 && q.is_power_of_two(),
        "inverted_residual_net: size / 4 must be a power of two"
    );
    let mut r = Rng(seed.max(1));
    let (c, e) = (width, 4 * width);
    let mut nodes = vec![
        conv(&mut r, "stem", "L", 1, c, 3, 2),
        relu6("stem_relu6", "stem.out"),
        conv(&mut r, "b1_expand", "stem_relu6.out", c, e, 1, 1),
        relu6("b1_expand_relu6", "b1_expand.out"),
        depthwise(&mut r, "b1_dw", "b1_expand_relu6.out", e, 3, 1),
        relu6("b1_dw_relu6", "b1_dw.out"),
        conv(&mut r, "b1_project", "b1_dw_relu6.out", e, c, 1, 1),
        binary("b1_add", Op::Add, "b1_project.out", "stem_relu6.out"),
        conv(&mut r, "b2_expand", "b1_add.out", c, e, 1, 1),
        relu6("b2_expand_relu6", "b2_expand.out"),
        depthwise(&mut r, "b2_dw", "b2_expand_relu6.out", e, 5, 2),
        relu6("b2_dw_relu6", "b2_dw.out"),
        conv(&mut r, "b2_project", "b2_dw_relu6.out", e, 2 * c, 1, 1),
        unary("pool", Op::GlobalAvgPool, "b2_project.out"),
        unary("pool_flat", Op::Flatten, "pool.out"),
        unary(
            "global_fc",
            Op::Linear {
                weight: r.tensor(vec![c, 2 * c], 2 * c),
                bias: r.vec(c, 0.1),
            },
            "pool_flat.out",
        ),
        relu6("global_relu6", "global_fc.out"),
        unary(
            "global_map",
            Op::Reshape {
                shape: vec![1, c, 1, 1],
            },
            "global_relu6.out",
        ),
    ];
    let mut global = "global_map.out".to_string();
    for side in (0..).map(|k| 2usize << k).take_while(|s| *s <= q) {
        let name = format!("global_up{side}");
        nodes.push(unary(&name, Op::Upsample2x, &global));
        global = format!("{name}.out");
    }
    nodes.extend([
        binary("fuse", Op::Concat, "b2_project.out", &global),
        conv(&mut r, "head", "fuse.out", 3 * c, 2, 1, 1),
    ]);
    let mut tanh = unary("tanh", Op::Tanh, "head.out");
    tanh.output = OUTPUT_NAME.into();
    nodes.push(tanh);
    Net {
        arch: "inverted-residual".into(),
        input_height: size,
        input_width: size,
        hints: None,
        nodes,
        metadata: card("inverted-residual", size, seed),
    }
}

/// A fully-connected net: flatten, linear, relu, linear, reshape, tanh.
pub fn mlp_net(size: usize, hidden: usize, seed: u64) -> Net {
    let mut r = Rng(seed.max(1));
    let n = size * size;
    let mut tanh = unary("tanh", Op::Tanh, "reshape.out");
    tanh.output = OUTPUT_NAME.into();
    Net {
        arch: "bootstrap-mlp".into(),
        input_height: size,
        input_width: size,
        hints: None,
        nodes: vec![
            unary("flatten", Op::Flatten, "L"),
            unary(
                "fc1",
                Op::Linear {
                    weight: r.tensor(vec![hidden, n], n),
                    bias: r.vec(hidden, 0.1),
                },
                "flatten.out",
            ),
            unary("fc1_relu", Op::Relu, "fc1.out"),
            unary(
                "fc2",
                Op::Linear {
                    weight: r.tensor(vec![2 * n, hidden], hidden),
                    bias: r.vec(2 * n, 0.1),
                },
                "fc1_relu.out",
            ),
            unary(
                "reshape",
                Op::Reshape {
                    shape: vec![1, 2, size, size],
                },
                "fc2.out",
            ),
            tanh,
        ],
        metadata: card("bootstrap-mlp", size, seed),
    }
}

/// A net that takes colour hints, shaped as the trainer's hinted `lite`:
/// a base that predicts [`AB_BINS`] logits at 1/4 of the input's size (a
/// strided stem, then the head, written to [`AUTO_OUTPUT_NAME`]), and a
/// hint branch of bias-free convolutions gated by the base's features,
/// added to the logits. `size` must be divisible by 4.
pub fn hinted_net(size: usize, width: usize, seed: u64) -> Net {
    assert!(
        size >= 4 && size % 4 == 0,
        "hinted_net: size must be divisible by 4"
    );
    let mut r = Rng(seed.max(1));
    let c = width;
    let bias_free = |mut n: Node| {
        if let Op::Conv2d { bias, .. } = &mut n.op {
            bias.fill(0.0);
        }
        n
    };
    let mut head = conv(&mut r, "head", "body_relu.out", c, AB_BINS, 1, 1);
    head.output = AUTO_OUTPUT_NAME.into();
    let mut nodes = vec![
        conv(&mut r, "stem", "L", 1, c, 3, 2),
        unary("stem_relu", Op::Relu, "stem.out"),
        conv(&mut r, "body", "stem_relu.out", c, c, 3, 2),
        unary("body_relu", Op::Relu, "body.out"),
        head,
        conv(&mut r, "hint_gate", "body_relu.out", c, c, 1, 1),
        unary("hint_gate_relu", Op::Relu, "hint_gate.out"),
        bias_free(conv(&mut r, "hint_in", HINTS_NAME, HINT_CHANNELS, c, 3, 1)),
        unary("hint_in_relu", Op::Relu, "hint_in.out"),
        binary(
            "hint_mul",
            Op::Mul,
            "hint_in_relu.out",
            "hint_gate_relu.out",
        ),
        bias_free(conv(&mut r, "hint_out", "hint_mul.out", c, AB_BINS, 3, 1)),
    ];
    let mut add = binary("hint_add", Op::Add, AUTO_OUTPUT_NAME, "hint_out.out");
    add.output = OUTPUT_NAME.into();
    nodes.push(add);
    Net {
        arch: "hinted".into(),
        input_height: size,
        input_width: size,
        hints: Some((size / 4, size / 4)),
        nodes,
        metadata: card("hinted", size, seed),
    }
}

/// The base of a [`hinted_net`]: its nodes up to [`AUTO_OUTPUT_NAME`], as
/// a net of the one L* input whose output that is.
pub fn hinted_base(net: &Net) -> Net {
    let end = net
        .nodes
        .iter()
        .position(|n| n.output == AUTO_OUTPUT_NAME)
        .expect("a hinted net writes its automatic logits");
    let mut nodes: Vec<Node> = net.nodes[..=end]
        .iter()
        .filter(|n| !n.inputs.iter().any(|i| i == HINTS_NAME))
        .cloned()
        .collect();
    nodes.last_mut().expect("the head").output = OUTPUT_NAME.into();
    Net {
        hints: None,
        nodes,
        ..net.clone()
    }
}
