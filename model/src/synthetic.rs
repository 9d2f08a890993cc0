//! Small nets with fixed pseudo-random weights: the bootstrap model shipped
//! until a trained one replaces it, and test fixtures for the ONNX writer.
//! Between them they use every [`Op`].

use colorize_shared::contract::{meta, OUTPUT_NAME};

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
        },
        inputs: vec![input.into()],
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
        nodes,
        metadata: card("bootstrap-conv", size, seed),
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
