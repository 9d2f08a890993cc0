//! The runtime pipeline without the CLI: shapes, lightness preservation
//! under a worst-case (saturated) model, banding, buffer reuse.

use colorize_device::Model;
use colorize_model::net::{Net, Node, Op, Tensor};
use colorize_model::onnx::to_onnx;
use colorize_model::synthetic::inverted_residual_net;
use colorize_shared::contract::{OutputKind, OUTPUT_NAME};
use colorize_shared::lab::{gray8_to_l, rgb8_to_lab};

/// A model predicting the same a*, b* everywhere: tanh(bias), zero weights.
fn constant_model(size: usize, a: f32, b: f32) -> Model {
    constant_model_at(size, 1, a, b)
}

/// [`constant_model`] with its a*b* at 1/`k` of the input's size (a 1x1
/// conv of stride `k`).
fn constant_model_at(size: usize, k: usize, a: f32, b: f32) -> Model {
    let net = Net {
        arch: "constant".into(),
        input_height: size,
        input_width: size,
        hints: None,
        nodes: vec![
            Node {
                name: "conv".into(),
                op: Op::Conv2d {
                    weight: Tensor::new(vec![2, 1, 1, 1], vec![0.0; 2]),
                    bias: vec![a.atanh(), b.atanh()],
                    stride: k,
                    padding: 0,
                    dilation: 1,
                    groups: 1,
                },
                inputs: vec!["L".into()],
                output: "pre".into(),
            },
            Node {
                name: "tanh".into(),
                op: Op::Tanh,
                inputs: vec!["pre".into()],
                output: OUTPUT_NAME.into(),
            },
        ],
        metadata: vec![],
    };
    Model::from_bytes(&to_onnx(&net).unwrap()).unwrap()
}

#[test]
fn saturated_predictions_keep_the_input_lightness() {
    // Every gray level, in a 256 x 3 strip, under strong colours of four hues.
    let (w, h) = (256, 3);
    let l: Vec<u16> = (0..w * h).map(|i| gray8_to_l((i % w) as u8)).collect();
    for (a, b) in [(0.9, 0.9), (-0.9, 0.2), (0.3, -0.95), (-0.6, -0.6)] {
        let model = constant_model(4, a, b);
        let mut s = model.session().unwrap();
        let mut rgb = vec![0u8; 3 * w * h];
        colorize_io::pipeline::Worker::new()
            .colorize_plane(&mut s, &l, w, h, &mut rgb)
            .unwrap();
        let worst = rgb
            .chunks_exact(3)
            .zip(&l)
            .map(|(px, l)| (rgb8_to_lab(px[0], px[1], px[2]).0 as i32 - *l as i32).abs())
            .max()
            .unwrap();
        assert!(
            worst <= 256,
            "a={a} b={b}: L* off by {}",
            worst as f32 / 256.0
        );
        // And the colour is really there in mid-tones.
        let mid = &rgb[3 * 128..3 * 129];
        let (_, ma, mb) = rgb8_to_lab(mid[0], mid[1], mid[2]);
        assert!(
            (ma as i32).abs() + (mb as i32).abs() > 20 * 256,
            "no chroma left: {mid:?}"
        );
    }
}

#[test]
fn session_reuse_gives_identical_frames_and_any_size_works() {
    let model = constant_model(8, 0.2, -0.3);
    let mut s = model.session().unwrap();
    for (w, h) in [(1, 1), (3, 200), (150, 65), (8, 8)] {
        let l: Vec<u16> = (0..w * h).map(|i| ((i * 37) % 25601) as u16).collect();
        let mut first = vec![0u8; 3 * w * h];
        let mut second = vec![1u8; 3 * w * h];
        colorize_io::pipeline::Worker::new()
            .colorize_plane(&mut s, &l, w, h, &mut first)
            .unwrap();
        colorize_io::pipeline::Worker::new()
            .colorize_plane(&mut s, &l, w, h, &mut second)
            .unwrap();
        assert_eq!(first, second, "{w}x{h}");
    }
    let mut small = vec![0u8; 5];
    assert!(colorize_io::pipeline::Worker::new()
        .colorize_plane(&mut s, &[0; 4], 2, 2, &mut small)
        .is_err());
}

#[test]
fn geometry_and_run_follow_the_model() {
    let model = constant_model(6, 0.5, -0.25);
    assert_eq!((model.geometry().width, model.geometry().height), (6, 6));
    let out = model.run(&[0.0; 36]).unwrap();
    assert_eq!(out.len(), 72);
    assert!((out[0] - 0.5).abs() < 1e-6 && (out[71] + 0.25).abs() < 1e-6);
    assert!(model.run(&[0.0; 35]).is_err());
}

/// A regression head at 1/2 or 1/4 of the input's size: the session's
/// planes have the output's size, and any image gets the model's colour.
#[test]
fn reduced_regression_outputs_colourize_any_size() {
    let (a, b) = (0.15f32, -0.2f32);
    for k in [2, 4] {
        let model = constant_model_at(16, k, a, b);
        let g = model.geometry();
        assert_eq!((g.width, g.height), (16, 16));
        assert_eq!(
            g.output,
            OutputKind::Ab {
                height: 16 / k,
                width: 16 / k
            }
        );
        assert_eq!(model.vividness(), None);
        let mut s = model.session().unwrap();
        for (w, h) in [(37, 23), (5, 90), (16, 16)] {
            // A mid-grey ramp: every pixel can take this colour in sRGB.
            let l: Vec<u16> = (0..w * h)
                .map(|i| gray8_to_l(100 + ((i % w) * 60 / w) as u8))
                .collect();
            {
                let p = s.predict(&l, w, h).unwrap();
                assert_eq!((p.width, p.height), (16 / k, 16 / k));
                assert_eq!(p.a.len(), (16 / k) * (16 / k));
            }
            let mut rgb = vec![0u8; 3 * w * h];
            colorize_io::pipeline::Worker::new()
                .colorize_plane(&mut s, &l, w, h, &mut rgb)
                .unwrap();
            let (mut sa, mut sb) = (0f64, 0f64);
            for px in rgb.chunks_exact(3) {
                let (_, pa, pb) = rgb8_to_lab(px[0], px[1], px[2]);
                sa += pa as f64 / 256.0;
                sb += pb as f64 / 256.0;
            }
            let n = (w * h) as f64;
            let (ma, mb) = (sa / n, sb / n);
            let (wa, wb) = (a as f64 * 128.0, b as f64 * 128.0);
            assert!(
                (ma - wa).abs() < 1.5 && (mb - wb).abs() < 1.5,
                "k {k}, {w}x{h}: mean a*b* {ma:.2} {mb:.2}, model says {wa:.2} {wb:.2}"
            );
        }
    }
}

/// A depthwise, ReLU6, global-pool net with a*b* at a quarter of its input
/// runs through a session at any image size and keeps the lightness.
#[test]
fn inverted_residual_model_runs_in_a_session() {
    let net = inverted_residual_net(16, 4, 8);
    let model = Model::from_bytes(&to_onnx(&net).unwrap()).unwrap();
    assert_eq!(model.geometry().ab_size(), (4, 4));
    let mut s = model.session().unwrap();
    let (w, h) = (45, 31);
    let l: Vec<u16> = (0..w * h)
        .map(|i| gray8_to_l(((i % w) * 255 / (w - 1)) as u8))
        .collect();
    let mut rgb = vec![0u8; 3 * w * h];
    colorize_io::pipeline::Worker::new()
        .colorize_plane(&mut s, &l, w, h, &mut rgb)
        .unwrap();
    let worst = rgb
        .chunks_exact(3)
        .zip(&l)
        .map(|(px, l)| (rgb8_to_lab(px[0], px[1], px[2]).0 as i32 - *l as i32).abs())
        .max()
        .unwrap();
    assert!(worst <= 256, "L* off by {}", worst as f32 / 256.0);
    assert!(
        rgb.chunks_exact(3)
            .any(|px| px[0] != px[1] || px[1] != px[2]),
        "no colour at all"
    );
}

/// A distribution head predicting the same logits `z` everywhere: a 1x1
/// conv with zero weights and `z` as bias, with `card` as its model card.
fn constant_bins_model(
    size: usize,
    z: Vec<f32>,
    card: Vec<(String, String)>,
) -> anyhow::Result<Model> {
    use colorize_shared::contract::AB_BINS;
    let net = Net {
        arch: "constant-bins".into(),
        input_height: size,
        input_width: size,
        hints: None,
        nodes: vec![Node {
            name: "conv".into(),
            op: Op::Conv2d {
                weight: Tensor::new(vec![AB_BINS, 1, 1, 1], vec![0.0; AB_BINS]),
                bias: z,
                stride: 1,
                padding: 0,
                dilation: 1,
                groups: 1,
            },
            inputs: vec!["L".into()],
            output: OUTPUT_NAME.into(),
        }],
        metadata: card,
    };
    Model::from_bytes(&to_onnx(&net).unwrap())
}

/// The card's rebalancing weights reach the decode: a head that learned
/// p w / Z (80 % red, 20 % a green whose weight is 4) gives the mean under
/// p at vividness 0, and under p w at vividness 1.
#[test]
fn rebalanced_heads_decode_by_their_cards_weights() {
    use colorize_shared::colour_bins::{bins, nearest_bin, BinDecoding};
    let b = bins();
    let (red, green) = (nearest_bin(60.0, 40.0), nearest_bin(-60.0, 50.0));
    let mut lw = vec![0f32; b.len()];
    lw[green] = 4f32.ln();
    let mut z = vec![-40f32; b.len()];
    z[red] = 0.8f32.ln();
    z[green] = 0.2f32.ln() + lw[green];
    let card: Vec<(String, String)> = BinDecoding {
        log_weights: Some(lw),
        vivid_temperature: 1.0,
    }
    .card_entries()
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let a_at = |v: f32| {
        let m = constant_bins_model(8, z.clone(), card.clone())
            .unwrap()
            .with_vividness(Some(v))
            .unwrap();
        let mut s = m.session().unwrap();
        let planes = s.predict(&[gray8_to_l(128); 64], 8, 8).unwrap();
        planes.a[0] as f32 / 256.0
    };
    let faithful = 0.8 * b[red][0] + 0.2 * b[green][0];
    let vivid = (0.8 * b[red][0] + 0.8 * b[green][0]) / 1.6;
    assert!(
        (a_at(0.0) - faithful).abs() < 0.05,
        "{} vs {faithful}",
        a_at(0.0)
    );
    assert!((a_at(1.0) - vivid).abs() < 0.05, "{} vs {vivid}", a_at(1.0));
}

#[test]
fn a_malformed_decoding_card_is_an_error_naming_the_key() {
    use colorize_shared::contract::{meta, AB_BINS};
    let card = vec![(meta::BIN_LOG_WEIGHTS.to_string(), "0.5 oops".to_string())];
    let e = constant_bins_model(8, vec![0.0; AB_BINS], card).unwrap_err();
    assert!(format!("{e:#}").contains(meta::BIN_LOG_WEIGHTS), "{e:#}");
    let card = vec![(meta::VIVID_TEMPERATURE.to_string(), "0".to_string())];
    let e = constant_bins_model(8, vec![0.0; AB_BINS], card).unwrap_err();
    assert!(format!("{e:#}").contains(meta::VIVID_TEMPERATURE), "{e:#}");
}

/// A model that takes hints colours exactly as its base without them (its
/// automatic plan stops at `ab_auto`), and with them as the reference
/// forward pass of the whole net; a model without hints refuses them.
#[test]
fn hinted_model_is_its_base_without_hints_and_follows_the_reference_with_them() {
    use colorize_model::forward::forward_hinted;
    use colorize_model::synthetic::{hinted_base, hinted_net};
    use colorize_shared::colour_bins::{decode_planes, BinDecoding};
    use colorize_shared::contract::{self, GridHint};

    let net = hinted_net(32, 6, 11);
    let model = Model::from_bytes(&to_onnx(&net).unwrap()).unwrap();
    let base = Model::from_bytes(&to_onnx(&hinted_base(&net)).unwrap()).unwrap();
    assert!(model.takes_hints() && !base.takes_hints());
    let (w, h) = (57, 43);
    let l: Vec<u16> = (0..w * h).map(|i| ((i * 97) % 25600) as u16).collect();
    let planes = |m: &Model, hints: &[GridHint]| {
        let mut s = m.session().unwrap();
        s.set_hints(hints).unwrap();
        let p = s.predict(&l, w, h).unwrap();
        (p.a.to_vec(), p.b.to_vec())
    };
    let auto = planes(&base, &[]);
    assert_eq!(planes(&model, &[]), auto, "no hints: the base's colours");

    let hint = GridHint {
        x: 0.3,
        y: 0.6,
        radius_x: 0.1,
        radius_y: 0.0,
        a: -60.0,
        b: 40.0,
    };
    let got = planes(&model, &[hint]);
    assert_ne!(got, auto, "a hint changes the colours");
    // The reference: the same model input, the hints tensor from the one
    // contract function, the whole net, the default decode, the pins.
    let mut session = model.session().unwrap();
    session.predict(&l, w, h).unwrap();
    let input = session.last_input().unwrap();
    let mut hints = vec![0f32; 3 * 8 * 8];
    contract::hints_to_input(&[hint], 8, 8, &mut hints);
    let logits = forward_hinted(&net, &input, Some(&hints)).unwrap();
    let (mut a, mut b) = (vec![0i16; 64], vec![0i16; 64]);
    let annealing = BinDecoding::from_card(None, None).unwrap().annealing(0.0);
    decode_planes(&logits.data, &annealing, &mut a, &mut b);
    // The hinted cells keep the hint's colour.
    contract::hints_to_pins(&[hint], 8, 8, &mut hints);
    contract::pin_hints(&hints, &mut a, &mut b);
    let i = 4 * 8 + 2; // (2.4, 4.8): the cell (2, 4)
    assert_eq!((got.0[i], got.1[i]), (-60 * 256, 40 * 256));
    let far = |x: &[i16], y: &[i16]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).max().unwrap();
    assert!(
        far(&got.0, &a) <= 2 && far(&got.1, &b) <= 2,
        "{} {}",
        far(&got.0, &a),
        far(&got.1, &b)
    );

    let mut s = base.session().unwrap();
    let err = s.set_hints(&[hint]).unwrap_err().to_string();
    assert!(err.contains("takes no colour hints"), "{err}");
    s.set_hints(&[]).unwrap();
}
