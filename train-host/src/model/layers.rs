//! The layer list of each architecture, built once and run by tch
//! ([`super::forward`]) and walked by the export ([`super::export_net`]).

use anyhow::{ensure, Result};
use colorize_shared::colour_bins;
use colorize_shared::contract::{
    AUTO_OUTPUT_NAME, HINTS_NAME, HINT_CHANNELS, INPUT_NAME, OUTPUT_NAME,
};

use super::config::{Arch, Head, ModelConfig, OutputActivation};

#[derive(Clone, Debug, PartialEq)]
pub enum LayerOp {
    /// `k x k`, padding `k / 2`; `groups` > 1 splits the channels
    /// (`groups == cin == cout`: depthwise).
    Conv {
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        /// Without a bias the convolution maps zeros to zeros: a hint
        /// branch built of such layers adds exactly nothing when no hint
        /// is given.
        bias: bool,
    },
    Relu,
    /// min(max(x, 0), 6), EfficientNet-Lite's activation.
    Relu6,
    /// `[n, c, h, w]` -> `[n, c, 1, 1]`.
    GlobalAvgPool,
    Tanh,
    Upsample2x,
    Concat,
    /// Elementwise sum of two tensors of one shape (residual connections).
    Add,
    /// Elementwise product of two tensors of one shape (gates).
    Mul,
    Flatten,
    Linear {
        fin: usize,
        fout: usize,
    },
    /// Target shape without the batch dimension.
    Reshape(Vec<usize>),
    /// Training only; the identity at inference and export.
    Dropout(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub op: LayerOp,
    pub inputs: Vec<String>,
    pub output: String,
    /// Pretrained and not trained: its weights never change, so its output
    /// can be computed once per image and cached.
    pub frozen: bool,
}

#[derive(Default)]
pub(crate) struct Builder {
    pub(crate) layers: Vec<Layer>,
    /// Marks the layers pushed from now on as frozen.
    pub(crate) frozen: bool,
}

impl Builder {
    pub(crate) fn push(&mut self, name: &str, op: LayerOp, inputs: &[&str]) -> String {
        let output = name.to_string();
        self.layers.push(Layer {
            name: name.to_string(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            frozen: self.frozen,
        });
        output
    }

    fn conv_relu(&mut self, name: &str, x: &str, cin: usize, cout: usize, stride: usize) -> String {
        let c = self.conv(name, x, cin, cout, 3, stride);
        self.push(&format!("{name}_relu"), LayerOp::Relu, &[&c])
    }

    pub(crate) fn conv(
        &mut self,
        name: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> String {
        self.conv_biased(name, x, [cin, cout, k, stride], true)
    }

    /// A `k x k` convolution without bias (zeros in, zeros out).
    fn conv_nb(
        &mut self,
        name: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> String {
        self.conv_biased(name, x, [cin, cout, k, stride], false)
    }

    fn conv_biased(&mut self, name: &str, x: &str, shape: [usize; 4], bias: bool) -> String {
        let [cin, cout, k, stride] = shape;
        let op = LayerOp::Conv {
            cin,
            cout,
            k,
            stride,
            groups: 1,
            bias,
        };
        self.push(name, op, &[x])
    }

    /// Depthwise `k x k` convolution over `c` channels.
    pub(crate) fn depthwise(
        &mut self,
        name: &str,
        x: &str,
        c: usize,
        k: usize,
        stride: usize,
    ) -> String {
        self.push(
            name,
            LayerOp::Conv {
                cin: c,
                cout: c,
                k,
                stride,
                groups: c,
                bias: true,
            },
            &[x],
        )
    }

    /// The global-context branch after its strided convolutions: `x`
    /// (`fin` values an image) flattened, two fully connected layers (256,
    /// then `w` units), reshaped to `[w, 1, 1]` and broadcast by nearest
    /// upsampling to `side` x `side`. Returns the map and the side reached
    /// (a power of two: the caller checks it is `side`).
    fn global_context(
        &mut self,
        x: &str,
        fin: usize,
        w: usize,
        p: f64,
        side: usize,
    ) -> (String, usize) {
        let g = self.push("global_flat", LayerOp::Flatten, &[x]);
        let g = self.push("global_fc1", LayerOp::Linear { fin, fout: 256 }, &[&g]);
        let g = self.push("global_fc1_relu", LayerOp::Relu, &[&g]);
        let g = self.dropout("global_fc1", &g, p);
        let g = self.push("global_fc2", LayerOp::Linear { fin: 256, fout: w }, &[&g]);
        let g = self.push("global_fc2_relu", LayerOp::Relu, &[&g]);
        let mut g = self.push("global_map", LayerOp::Reshape(vec![w, 1, 1]), &[&g]);
        let mut reached = 1;
        while reached < side {
            g = self.push(&format!("global_up{reached}"), LayerOp::Upsample2x, &[&g]);
            reached *= 2;
        }
        (g, reached)
    }

    fn dropout(&mut self, name: &str, x: &str, p: f64) -> String {
        if p > 0.0 {
            self.push(&format!("{name}_drop"), LayerOp::Dropout(p), &[x])
        } else {
            x.to_string()
        }
    }

    /// The output: a 3x3 convolution from `x` (`cin` channels) to a*b*
    /// (regression: 2 channels and the output activation, then `upsample`
    /// 2x if asked) or to one logit per colour bin (kept at `x`'s
    /// resolution: the decode's result is upsampled by the recombination).
    /// The last layer is named as the contract's output.
    fn head(&mut self, cfg: &ModelConfig, x: &str, cin: usize, upsample: bool) {
        self.head_k(cfg, x, cin, upsample, 3)
    }

    /// [`Builder::head`] with a `k x k` output convolution for the
    /// distribution head (its hundreds of output channels make a 3x3 costly).
    fn head_k(&mut self, cfg: &ModelConfig, x: &str, cin: usize, upsample: bool, dist_k: usize) {
        let (cout, k) = match cfg.head {
            Head::Regression => (2, 3),
            Head::Dist => (colour_bins::bins().len(), dist_k),
        };
        let o = self.conv("conv_out", x, cin, cout, k, 1);
        let mut steps: Vec<(&str, LayerOp)> = Vec::new();
        if cfg.head == Head::Regression {
            steps.push(match cfg.output {
                OutputActivation::Tanh => ("tanh", LayerOp::Tanh),
                OutputActivation::Relu => ("relu_out", LayerOp::Relu),
            });
            if upsample {
                steps.push(("out_up", LayerOp::Upsample2x));
            }
        }
        let Some(last) = steps.pop() else {
            self.layers.last_mut().expect("conv_out").output = OUTPUT_NAME.to_string();
            return;
        };
        let mut x = o;
        for (name, op) in steps {
            x = self.push(name, op, &[&x]);
        }
        self.layers.push(Layer {
            name: last.0.into(),
            op: last.1,
            inputs: vec![x],
            output: OUTPUT_NAME.to_string(),
            frozen: false,
        });
    }
}

/// The layer list of an architecture.
pub fn layers(cfg: &ModelConfig) -> Result<Vec<Layer>> {
    let (s, w, p) = (cfg.size, cfg.width, cfg.dropout);
    ensure!(w > 0 && s > 0, "--width and --size must be positive");
    ensure!(
        (0.0..1.0).contains(&p),
        "--dropout must be in 0..1, got {p}"
    );
    let mut b = Builder::default();
    match cfg.arch {
        Arch::Mlp => {
            ensure!(
                s % 4 == 0,
                "--arch mlp needs --size divisible by 4, got {s}"
            );
            let q = s / 4;
            let x = b.push("flatten", LayerOp::Flatten, &[INPUT_NAME]);
            let x = b.push(
                "fc1",
                LayerOp::Linear {
                    fin: s * s,
                    fout: w,
                },
                &[&x],
            );
            let x = b.push("fc1_relu", LayerOp::Relu, &[&x]);
            let x = b.dropout("fc1", &x, p);
            let x = b.push(
                "fc2",
                LayerOp::Linear {
                    fin: w,
                    fout: 2 * q * q,
                },
                &[&x],
            );
            let x = b.push("reshape", LayerOp::Reshape(vec![2, q, q]), &[&x]);
            let x = b.push("up1", LayerOp::Upsample2x, &[&x]);
            let x = b.push("up2", LayerOp::Upsample2x, &[&x]);
            ensure!(
                cfg.head == Head::Regression,
                "--head dist needs a convolutional arch (paper, unet or ctx)"
            );
            let (name, op) = match cfg.output {
                OutputActivation::Tanh => ("tanh", LayerOp::Tanh),
                OutputActivation::Relu => ("relu_out", LayerOp::Relu),
            };
            b.layers.push(Layer {
                name: name.into(),
                op,
                inputs: vec![x],
                output: OUTPUT_NAME.to_string(),
                frozen: false,
            });
        }
        Arch::Paper => {
            ensure!(cfg.depth >= 1, "--arch paper needs --depth >= 1");
            let mut x = INPUT_NAME.to_string();
            let mut cin = 1;
            for i in 1..=cfg.depth {
                let name = format!("conv{i}");
                x = b.conv_relu(&name, &x, cin, w, 1);
                x = b.dropout(&name, &x, p);
                cin = w;
            }
            b.head(cfg, &x, cin, false);
        }
        Arch::Unet => {
            let levels = cfg.depth;
            ensure!(levels >= 1, "--arch unet needs --depth >= 1");
            ensure!(
                s % (1 << levels) == 0,
                "--arch unet with --depth {levels} needs --size divisible by {}, got {s}",
                1 << levels
            );
            // Encoder: full-resolution stem, then per level a strided conv
            // that doubles the channels and a conv at the new resolution.
            let mut skips = vec![(b.conv_relu("enc0", INPUT_NAME, 1, w, 1), w)];
            for lvl in 1..=levels {
                let (prev, cin) = skips.last().cloned().expect("stem");
                let c = w << lvl;
                let x = b.conv_relu(&format!("down{lvl}"), &prev, cin, c, 2);
                let mut x = b.conv_relu(&format!("enc{lvl}"), &x, c, c, 1);
                if lvl == levels {
                    x = b.dropout("bottleneck", &x, p);
                }
                skips.push((x, c));
            }
            // Decoder: upsample, concatenate the encoder's map at that size,
            // fuse with one conv.
            let (mut x, mut cx) = skips.pop().expect("bottleneck");
            for lvl in (0..levels).rev() {
                let (skip, cs) = skips[lvl].clone();
                let up = b.push(&format!("up{lvl}"), LayerOp::Upsample2x, &[&x]);
                let cat = b.push(&format!("cat{lvl}"), LayerOp::Concat, &[&up, &skip]);
                let c = w << lvl;
                x = b.conv_relu(&format!("dec{lvl}"), &cat, cx + cs, c, 1);
                cx = c;
            }
            b.head(cfg, &x, cx, false);
        }
        Arch::Ctx => {
            ensure!(cfg.depth >= 2, "--arch ctx needs --depth >= 2");
            ensure!(
                s % 16 == 0 && s >= 16,
                "--arch ctx needs --size divisible by 16, got {s}"
            );
            // 1/2 and 1/4 resolution stems; `w / 3` keeps the full- and
            // half-resolution layers (small GEMMs, slow per FLOP) narrow.
            let narrow = (w / 3).max(4);
            let half = b.conv_relu("stem1", INPUT_NAME, 1, narrow, 2);
            let x = b.conv_relu("stem2", &half, narrow, 2 * narrow, 2);
            let mut x = b.conv_relu("body0", &x, 2 * narrow, w, 1);
            // Residual 3x3 convolutions at 1/4 resolution: x + relu(conv(x)).
            let residual = |b: &mut Builder, x: &str, i: usize| -> String {
                let r = b.conv_relu(&format!("body{i}"), x, w, w, 1);
                b.push(&format!("body{i}_add"), LayerOp::Add, &[x, &r])
            };
            let before = cfg.depth / 2;
            for i in 1..=before {
                x = residual(&mut b, &x, i);
            }
            // Global context: 1/4 -> 1/16 resolution, two fully connected
            // layers, back to a [w, 1, 1] map, broadcast by upsampling.
            let q = s / 4;
            let g = b.conv_relu("global1", &x, w, w, 2);
            let g = b.conv_relu("global2", &g, w, w, 2);
            let (g, side) = b.global_context(&g, w * (q / 4) * (q / 4), w, p, q);
            ensure!(side == q, "--arch ctx needs a power-of-two --size, got {s}");
            let cat = b.push("fuse_cat", LayerOp::Concat, &[&x, &g]);
            let c = b.conv("fuse", &cat, 2 * w, w, 1, 1);
            x = b.push("fuse_relu", LayerOp::Relu, &[&c]);
            for i in before + 1..=cfg.depth {
                x = residual(&mut b, &x, i);
            }
            // Colour at 1/2 resolution: narrow the body, upsample, fuse with
            // the half-resolution stem (edges), predict, upsample.
            let dw = (narrow / 2).max(2);
            let r = b.conv("reduce", &x, w, dw, 1, 1);
            let r = b.push("reduce_relu", LayerOp::Relu, &[&r]);
            let up = b.push("dec_up", LayerOp::Upsample2x, &[&r]);
            let cat = b.push("dec_cat", LayerOp::Concat, &[&up, &half]);
            let d = b.conv_relu("dec", &cat, dw + narrow, dw, 1);
            b.head(cfg, &d, dw, true);
        }
        Arch::Lite => {
            ensure!(cfg.depth >= 2, "--arch lite needs --depth >= 2");
            ensure!(
                s >= 32 && s % 32 == 0 && (s / 16).is_power_of_two(),
                "--arch lite needs --size 32 x a power of two (64, 128, 256), got {s}"
            );
            ensure!(w >= 8, "--arch lite needs --width >= 8");
            b.frozen = !cfg.finetune_encoder;
            super::encoder::push_lite0(&mut b, INPUT_NAME, 1, LITE_LAST_BLOCK, false);
            b.frozen = false;
            if let Some(first) = cfg.finetune_from {
                ensure!(
                    first <= LITE_LAST_BLOCK,
                    "--finetune-from {first}: the encoder's blocks are 0..={LITE_LAST_BLOCK}"
                );
                for l in &mut b.layers {
                    if super::encoder::block_of(&l.name).is_some_and(|i| i >= first) {
                        l.frozen = false;
                    }
                }
            }
            let t8 = super::encoder::block_output(LITE_TAP_STRIDE8);
            let t16 = super::encoder::block_output(LITE_LAST_BLOCK);
            let c8 = super::encoder::LITE0_BLOCKS[LITE_TAP_STRIDE8].cout;
            let c16 = super::encoder::LITE0_BLOCKS[LITE_LAST_BLOCK].cout;
            let residual = |b: &mut Builder, x: &str, i: usize| -> String {
                let r = b.conv_relu(&format!("body{i}"), x, w, w, 1);
                b.push(&format!("body{i}_add"), LayerOp::Add, &[x, &r])
            };
            // Global context at 1/32: the whole scene in a vector, broadcast
            // back to 1/16 (as in ctx, on pretrained features).
            let q = s / 32;
            let g = b.conv_relu("global1", &t16, c16, w, 2);
            let (g, _) = b.global_context(&g, w * q * q, w, p, s / 16);
            // 1/16: the deepest tap with the context.
            let p16 = b.conv("proj16", &t16, c16, w, 1, 1);
            let cat = b.push("fuse_cat", LayerOp::Concat, &[&p16, &g]);
            let f = b.conv("fuse", &cat, 2 * w, w, 1, 1);
            let mut x = b.push("fuse_relu", LayerOp::Relu, &[&f]);
            let before = cfg.depth / 2;
            for i in 1..=before {
                x = residual(&mut b, &x, i);
            }
            let x16 = x.clone();
            // 1/8: add the stride-8 tap.
            let up = b.push("up8", LayerOp::Upsample2x, &[&x]);
            let p8 = b.conv("proj8", &t8, c8, w, 1, 1);
            let sum = b.push("merge8", LayerOp::Add, &[&up, &p8]);
            x = b.push("merge8_relu", LayerOp::Relu, &[&sum]);
            for i in before + 1..=cfg.depth {
                x = residual(&mut b, &x, i);
            }
            let x8 = x.clone();
            // 1/4: edges from the input itself, then the colour.
            let dw = w / 2;
            let r = b.conv("reduce", &x, w, dw, 1, 1);
            let r = b.push("reduce_relu", LayerOp::Relu, &[&r]);
            let up = b.push("up4", LayerOp::Upsample2x, &[&r]);
            let e = b.conv_relu("edge1", INPUT_NAME, 1, 16, 2);
            let e = b.conv_relu("edge2", &e, 16, dw, 2);
            let cat = b.push("dec_cat", LayerOp::Concat, &[&up, &e]);
            let d = b.conv_relu("dec", &cat, 2 * dw, dw, 1);
            b.head_k(cfg, &d, dw, false, 1);
            if cfg.hints {
                ensure!(
                    cfg.head == Head::Dist,
                    "--hints needs --head dist (the hints shift the colour distribution)"
                );
                ensure!(
                    cfg.hint_width() > 0 && (s / 4) % 8 == 0,
                    "--hints needs --hint-width > 0 and --size divisible by 32 (the branch goes down to 1/8 of the output), got {} and {s}",
                    cfg.hint_width()
                );
                let features = [(d.as_str(), dw), (x8.as_str(), w), (x16.as_str(), w)];
                b.hint_branch(features, s / 4, cfg.hint_width(), cfg.hint_global);
            }
        }
    }
    ensure!(
        !cfg.hints
            || b.layers
                .iter()
                .any(|l| l.inputs.iter().any(|i| i == HINTS_NAME)),
        "--hints is built for --arch lite only"
    );
    Ok(b.layers)
}

/// Channels of the hint branch at the output's size (1,024 cells at input
/// 128, where every channel costs most).
const HINT_WIDTH: usize = 16;

impl Builder {
    /// The colour-hint branch of a distribution head, after the head's
    /// output (`conv_out`, which now writes `ab_auto`): the hints input
    /// (mask, a*, b* at the output's size `side`) is spread over the image
    /// down to 1/8 of the output's size and back, at each scale gated by
    /// the image's own features there (`features`: the output's scale,
    /// then half, then a quarter of it, with their channels), and its
    /// result is added to the automatic logits. Below the output's size it
    /// has `coarse` channels ([`ModelConfig::hint_width`]).
    ///
    /// Every layer that the hints reach is a bias-free convolution, a ReLU,
    /// a sum or a product with the hint signal, so no hints give exactly
    /// zero and the automatic colours are the base model's, bit for bit.
    /// Its layers are named `hint_*`: a hinted run trains only them.
    fn hint_branch(
        &mut self,
        features: [(&str, usize); 3],
        side: usize,
        coarse: usize,
        global: bool,
    ) {
        let fine = HINT_WIDTH;
        let width = |level: usize| if level == 0 { fine } else { coarse };
        let auto = AUTO_OUTPUT_NAME;
        let last = self.layers.last_mut().expect("the head's output conv");
        last.output = auto.to_string();
        let gates: Vec<String> = features
            .iter()
            .enumerate()
            .map(|(i, (f, cin))| {
                let g = self.conv(&format!("hint_gate{i}"), f, *cin, width(i), 1, 1);
                self.push(&format!("hint_gate{i}_relu"), LayerOp::Relu, &[&g])
            })
            .collect();
        // x, gated by the image where it is, then one 3x3 over both.
        let step = |b: &mut Builder, name: &str, x: &str, g: &str, c: usize| -> String {
            let m = b.push(&format!("{name}_gate"), LayerOp::Mul, &[x, g]);
            let cat = b.push(&format!("{name}_cat"), LayerOp::Concat, &[x, &m]);
            let y = b.conv_nb(name, &cat, 2 * c, c, 3, 1);
            b.push(&format!("{name}_relu"), LayerOp::Relu, &[&y])
        };
        let conv_relu = |b: &mut Builder,
                         name: &str,
                         x: &str,
                         cin: usize,
                         cout: usize,
                         k: usize,
                         stride: usize| {
            let y = b.conv_nb(name, x, cin, cout, k, stride);
            b.push(&format!("{name}_relu"), LayerOp::Relu, &[&y])
        };
        // At the output's size (the costly one) the hints are gated once,
        // on the way back up.
        let mut skips = vec![conv_relu(
            self,
            "hint_in",
            HINTS_NAME,
            HINT_CHANNELS,
            fine,
            3,
            1,
        )];
        for i in 1..3 {
            let x = conv_relu(
                self,
                &format!("hint_stride{i}"),
                &skips[i - 1],
                width(i - 1),
                coarse,
                3,
                2,
            );
            skips.push(step(self, &format!("hint_down{i}"), &x, &gates[i], coarse));
        }
        // The coarsest level (1/8 of the output, 4x4 at input 128) sees the
        // whole image within one 3x3.
        let x = conv_relu(self, "hint_stride3", &skips[2], coarse, coarse, 3, 2);
        let mut x = conv_relu(self, "hint_global", &x, coarse, coarse, 3, 1);
        if global {
            // The mean over the whole image, broadcast back: one hint can
            // say "this photograph is green" everywhere at once.
            let pooled = self.push("hint_pool", LayerOp::GlobalAvgPool, &[&x]);
            let p = conv_relu(self, "hint_pool_conv", &pooled, coarse, coarse, 1, 1);
            let (mut p, mut reached) = (p, 1);
            while reached < side / 8 {
                p = self.push(
                    &format!("hint_pool_up{reached}"),
                    LayerOp::Upsample2x,
                    &[&p],
                );
                reached *= 2;
            }
            x = self.push("hint_pool_add", LayerOp::Add, &[&x, &p]);
        }
        for i in (0..3).rev() {
            if i == 0 && coarse != fine {
                x = conv_relu(self, "hint_narrow", &x, coarse, fine, 1, 1);
            }
            let up = self.push(&format!("hint_up{i}"), LayerOp::Upsample2x, &[&x]);
            let sum = self.push(&format!("hint_skip{i}"), LayerOp::Add, &[&up, &skips[i]]);
            x = step(self, &format!("hint_upconv{i}"), &sum, &gates[i], width(i));
        }
        // The hints themselves reach the logits directly too: a bin's
        // logit linear in (mask, a*, b*) can peak at the hinted colour.
        let cat = self.push("hint_out_cat", LayerOp::Concat, &[&x, HINTS_NAME]);
        let bins = colour_bins::bins().len();
        let out = self.conv_nb("hint_out", &cat, fine + HINT_CHANNELS, bins, 1, 1);
        debug_assert!(side >= 8, "the hint branch goes down to 1/8 of {side}");
        self.layers.push(Layer {
            name: "hint_add".into(),
            op: LayerOp::Add,
            inputs: vec![auto.to_string(), out],
            output: OUTPUT_NAME.to_string(),
            frozen: false,
        });
    }
}

/// `--arch lite`: the encoder ends after this block (1/16 resolution, 112
/// channels), and this earlier block's output (1/8, 40 channels) is the
/// second tap. The deeper blocks would triple the file (docs/training.md).
pub const LITE_LAST_BLOCK: usize = 10;
pub const LITE_TAP_STRIDE8: usize = 4;
