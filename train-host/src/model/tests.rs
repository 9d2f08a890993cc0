use colorize_model::net::Op;
use colorize_shared::colour_bins::{self, Annealing, BinDecoding};
use colorize_shared::contract::{AB_RANGE, OUTPUT_NAME};
use tch::{nn, Kind, Tensor};

use super::*;

fn cfg(arch: Arch) -> ModelConfig {
    ModelConfig {
        arch,
        size: 64,
        width: arch.default_width(),
        depth: arch.default_depth(),
        dropout: 0.1,
        output: Default::default(),
        head: Default::default(),
        finetune_encoder: false,
        finetune_from: None,
        hints: false,
        hint_coarse_width: None,
        hint_global: false,
    }
}

#[test]
fn unet_fits_the_arm_budget() {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let m = TorchModel::new(&vs.root(), cfg(Arch::Unet)).unwrap();
    let gflop = 2.0 * m.macs() as f64 / 1e9;
    assert!(gflop < 0.3, "unet costs {gflop} GFLOP per frame");
    assert!(gflop > 0.05, "unet MAC count looks wrong: {gflop} GFLOP");
}

#[test]
fn dist_head_decodes_like_the_shared_annealed_mean() {
    let q = colour_bins::bins().len();
    for arch in [Arch::Paper, Arch::Unet, Arch::Ctx] {
        let mut c = cfg(arch);
        c.size = 16;
        c.width = c.width.min(8);
        c.head = Head::Dist;
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = TorchModel::new(&vs.root(), c).unwrap();
        let x = Tensor::rand([2, 1, 16, 16], (Kind::Float, tch::Device::Cpu));
        // Logits with some spread, as a trained model gives.
        let out = m.forward(&x, false).unwrap() * 300.0;
        let h = if arch == Arch::Ctx { 8 } else { 16 };
        assert_eq!(out.size(), vec![2, q as i64, h, h], "{arch:?}");
        let rebalanced = BinDecoding {
            log_weights: Some((0..q).map(|k| (k as f32 * 0.7).sin() * 2.0).collect()),
            vivid_temperature: 0.3,
        };
        for (what, ann) in [
            ("T 1", Annealing::plain(1.0)),
            ("T 0.1", Annealing::plain(0.1)),
            ("rebalanced V 0.4", rebalanced.annealing(0.4)),
        ] {
            let ab = m.decode(&out, &ann).unwrap();
            assert_eq!(ab.size(), vec![2, 2, 16, 16], "{arch:?}");
            let z = Vec::<f32>::try_from(&out.get(1).select(1, 3).select(1, 2)).unwrap();
            let (a, b) = colour_bins::annealed_mean(&z, &ann);
            // Output pixel (6, 5) reads logit pixel (3, 2) at half resolution.
            let (py, px) = if h == 8 { (6, 5) } else { (3, 2) };
            let got = ab.get(1).select(1, py).select(1, px);
            let got = Vec::<f32>::try_from(&got).unwrap();
            assert!(
                (got[0] * AB_RANGE - a).abs() < 0.01,
                "{arch:?} {what}: {} vs {a}",
                got[0] * AB_RANGE
            );
            assert!(
                (got[1] * AB_RANGE - b).abs() < 0.01,
                "{arch:?} {what}: {} vs {b}",
                got[1] * AB_RANGE
            );
        }
        // The exported output is the logits, named per the contract.
        let net = m.to_net(vec![]).unwrap();
        assert_eq!(net.nodes.last().unwrap().output, OUTPUT_NAME);
    }
    let mut c = cfg(Arch::Mlp);
    c.head = Head::Dist;
    assert!(layers(&c).is_err());
}

/// The smallest input each arch takes in these tests: lite's encoder
/// needs 1/32 of it to be a whole number and 1/16 a power of two.
fn small_size(arch: Arch) -> usize {
    if arch == Arch::Lite {
        64
    } else {
        16
    }
}

#[test]
fn relu_output_replaces_the_final_tanh() {
    for &arch in Arch::all() {
        let mut c = cfg(arch);
        c.size = small_size(arch);
        c.width = c.width.min(8);
        c.output = OutputActivation::Relu;
        let ls = layers(&c).unwrap();
        assert!(ls.iter().all(|l| l.op != LayerOp::Tanh), "{arch:?}");
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = TorchModel::new(&vs.root(), c).unwrap();
        // Inputs in -1..1, so a tanh output would have both signs.
        let s = small_size(arch) as i64;
        let x = Tensor::rand([2, 1, s, s], (Kind::Float, tch::Device::Cpu)) * 2.0 - 1.0;
        let y = m.forward(&x, false).unwrap();
        assert!(y.min().double_value(&[]) >= 0.0, "{arch:?}");
        let net = m.to_net(vec![]).unwrap();
        assert!(net.nodes.iter().all(|n| n.op != Op::Tanh), "{arch:?}");
    }
}

#[test]
fn forward_and_backward_of_every_arch() {
    for &arch in Arch::all() {
        let mut c = cfg(arch);
        let s = small_size(arch) as i64;
        c.size = s as usize;
        c.width = c.width.min(8);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = TorchModel::new(&vs.root(), c).unwrap();
        let x = Tensor::rand([3, 1, s, s], (Kind::Float, tch::Device::Cpu));
        let y = m.forward(&x, true).unwrap();
        // lite predicts at 1/4 of its input.
        let o = if arch == Arch::Lite { s / 4 } else { s };
        assert_eq!(y.size(), vec![3, 2, o, o], "{arch:?}");
        let loss = y.square().mean(Kind::Float);
        loss.backward();
        for (name, v) in vs.variables() {
            let g = v.grad();
            // The pretrained encoder is frozen: no gradient, by design.
            if name.starts_with("enc_") {
                assert!(!g.defined(), "{arch:?}: frozen {name} got a gradient");
                continue;
            }
            assert!(g.defined(), "{arch:?}: no gradient for {name}");
            let norm = g.abs().sum(Kind::Float).double_value(&[]);
            assert!(
                norm.is_finite(),
                "{arch:?}: gradient of {name} is not finite"
            );
        }
        // Export drops dropout and names the output per the contract.
        let net = m.to_net(vec![]).unwrap();
        assert_eq!(net.nodes.last().unwrap().output, OUTPUT_NAME);
        assert!(net.nodes.iter().all(|n| !n.name.ends_with("_drop")));
    }
}

#[test]
fn finetune_from_trains_the_deep_blocks_and_caches_the_prefix() {
    let mut c = cfg(Arch::Lite);
    c.width = 8;
    c.dropout = 0.0;
    c.finetune_from = Some(5);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let m = TorchModel::new(&vs.root(), c.clone()).unwrap();
    // The cache holds block 4's output: the input of block 5 and the
    // head's stride-8 tap at once.
    let taps: Vec<String> = m.cached_inputs().into_iter().map(|t| t.0).collect();
    assert_eq!(taps, vec![encoder::block_output(4)]);
    let x = Tensor::rand([2, 1, 64, 64], (Kind::Float, tch::Device::Cpu));
    let cached = m
        .run_frozen(&x, &[encoder::block_output(4).as_str()])
        .unwrap();
    let given = vec![(encoder::block_output(4), cached[0].shallow_clone())];
    let y = m.forward_cached(&x, given, false).unwrap();
    let whole = m.forward(&x, false).unwrap();
    let diff = (&y - &whole).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "cached prefix changes the output by {diff}");
    y.square().mean(Kind::Float).backward();
    let mut learned = 0;
    for (name, v) in vs.variables() {
        let block = encoder::block_of(name.split('.').next().unwrap());
        let frozen = name.starts_with("enc_stem") || block.is_some_and(|b| b < 5);
        assert_eq!(v.grad().defined(), !frozen, "{name}");
        learned += usize::from(block.is_some_and(|b| b >= 5));
    }
    // Blocks 5..=10: expand, depthwise and project, weight and bias each.
    assert_eq!(learned, 6 * 3 * 2);
    c.finetune_from = Some(11);
    assert!(layers(&c).is_err(), "block 11 is past the encoder's end");
}

#[test]
fn block_of_names_the_encoder_block() {
    assert_eq!(encoder::block_of("enc_b7_dw_relu6"), Some(7));
    assert_eq!(encoder::block_of("enc_b10"), Some(10));
    assert_eq!(encoder::block_of("enc_stem"), None);
    assert_eq!(encoder::block_of("body1"), None);
}

#[test]
fn hint_branch_adds_nothing_without_hints_and_alone_learns() {
    let mut c = cfg(Arch::Lite);
    c.width = 8;
    c.dropout = 0.0;
    c.head = Head::Dist;
    c.hints = true;
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let m = TorchModel::new(&vs.root(), c.clone()).unwrap();
    // Give the branch weights that would show through if anything leaked.
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            if name.starts_with("hint_") {
                let _ = v.uniform_(-1.0, 1.0);
            }
        }
    });
    let x = Tensor::rand([2, 1, 64, 64], (Kind::Float, tch::Device::Cpu));
    let outs = m
        .outputs(
            &x,
            &[colorize_shared::contract::AUTO_OUTPUT_NAME, OUTPUT_NAME],
        )
        .unwrap();
    assert!(
        outs[0].equal(&outs[1]),
        "no hints: exactly the automatic logits"
    );
    // A hint moves the logits and trains the branch, and the branch only.
    let mut h = vec![0f32; 3 * 16 * 16];
    h[3 * 16 + 5] = 1.0;
    h[256 + 3 * 16 + 5] = -0.4;
    let hints = Tensor::from_slice(&h)
        .view([1, 3, 16, 16])
        .repeat([2, 1, 1, 1]);
    let y = m
        .forward_hinted(&x, Some(&hints), Vec::new(), true)
        .unwrap();
    assert!(!y.equal(&outs[1]), "a hint changes the logits");
    y.square().mean(Kind::Float).backward();
    for (name, v) in vs.variables() {
        assert_eq!(v.grad().defined(), name.starts_with("hint_"), "{name}");
    }
    // Pinned decode: a marked cell takes the pin's colour, the rest is the
    // plain decode (enlarged 2x: the 32x32 sample from 16x16 cells).
    let mut pins = vec![0f32; 3 * 16 * 16];
    pins[2 * 16 + 7] = 1.0;
    pins[256 + 2 * 16 + 7] = 0.25;
    pins[512 + 2 * 16 + 7] = -0.5;
    let pins = Tensor::from_slice(&pins)
        .view([1, 3, 16, 16])
        .repeat([2, 1, 1, 1]);
    let plain = m.decode(&y.detach(), &m.annealing).unwrap();
    let pinned = m
        .decode_pinned(&y.detach(), &m.annealing, Some(&pins))
        .unwrap();
    let at = |t: &Tensor, c: i64, yy: i64, xx: i64| t.double_value(&[1, c, yy, xx]);
    assert_eq!((at(&pinned, 0, 5, 15), at(&pinned, 1, 4, 14)), (0.25, -0.5));
    assert_eq!(at(&pinned, 0, 20, 20), at(&plain, 0, 20, 20));
    // The export takes the hints at the output's size, without biases
    // where the branch reads the hints.
    let net = m.to_net(Vec::new()).unwrap();
    assert_eq!(net.hints, Some((16, 16)));
    let hint_in = net.nodes.iter().find(|n| n.name == "hint_in").unwrap();
    assert!(matches!(&hint_in.op, Op::Conv2d { bias, .. } if bias.iter().all(|&b| b == 0.0)));
    c.head = Head::Regression;
    assert!(layers(&c).is_err(), "hints need the distribution head");
    c.arch = Arch::Ctx;
    c.head = Head::Dist;
    assert!(layers(&c).is_err(), "hints are built for lite only");
}
