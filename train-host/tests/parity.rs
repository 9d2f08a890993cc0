//! tch and the exported ONNX model (run by tract in colorize-device) agree.
use colorize_device::runtime;
use colorize_model::onnx;
use colorize_train::model::{Arch, ModelConfig, TorchModel};
use tch::{nn, Device, Kind, Tensor};

fn model(arch: Arch) -> (nn::VarStore, TorchModel) {
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = ModelConfig {
        arch,
        size: 64,
        width: arch.default_width(),
        depth: arch.default_depth(),
        dropout: 0.3,
        output: Default::default(),
        head: Default::default(),
        finetune_encoder: false,
        finetune_from: None,
        hints: false,
        hint_coarse_width: None,
        hint_global: false,
    };
    let m = TorchModel::new(&vs.root(), cfg).unwrap();
    (vs, m)
}

fn tch_run(m: &TorchModel, input: &[f32]) -> Vec<f32> {
    let x = Tensor::from_slice(input).view([1, 1, 64, 64]);
    let y = tch::no_grad(|| m.forward(&x, false)).unwrap();
    Vec::<f32>::try_from(&y.view(-1)).unwrap()
}

#[test]
fn f32_onnx_matches_tch_for_every_arch() {
    for &arch in Arch::all() {
        let (_vs, m) = model(arch);
        let net = m.to_net(vec![]).unwrap();
        let bytes = onnx::to_onnx(&net).unwrap();
        let rt = runtime::Model::from_bytes(&bytes).unwrap();
        assert_eq!(rt.geometry().width, 64);
        let mut worst = 0f32;
        for seed in 0..3 {
            tch::manual_seed(100 + seed);
            let x = Tensor::rand([64 * 64], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
            let input = Vec::<f32>::try_from(&x).unwrap();
            let a = tch_run(&m, &input);
            let b = rt.run(&input).unwrap();
            assert_eq!(a.len(), b.len());
            let diff = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            worst = worst.max(diff);
        }
        println!("{arch:?}: max |tch - tract| = {worst:e}");
        assert!(worst < 1e-4, "{arch:?}: tch and tract differ by {worst}");
    }
}

/// A distribution head's logits run the same in tract, and the device's
/// decode (colorize_shared::colour_bins, at the user's vividness, with the
/// card's rebalancing weights) gives the a*b* that the trainer's decode gives.
#[test]
fn dist_head_decodes_the_same_on_the_device() {
    use colorize_shared::{colour_bins, contract};
    use colorize_train::model::Head;
    tch::manual_seed(12);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = ModelConfig {
        arch: Arch::Ctx,
        size: 64,
        width: 32,
        depth: 2,
        dropout: 0.0,
        output: Default::default(),
        head: Head::Dist,
        finetune_encoder: false,
        finetune_from: None,
        hints: false,
        hint_coarse_width: None,
        hint_global: false,
    };
    let mut m = TorchModel::new(&vs.root(), cfg).unwrap();
    // Peaked distributions, as a trained model gives, not the near-uniform
    // ones of the initialisation.
    tch::no_grad(|| {
        let mut w = vs.variables()["conv_out.weight"].shallow_clone();
        let _ = w.f_mul_scalar_(400.0).unwrap();
    });
    // Trained with rebalancing: the card carries the weights, and both
    // sides take 1 - V of them back out at T = 0.5^V.
    m.decoding = colour_bins::BinDecoding::rebalanced(
        (0..contract::AB_BINS)
            .map(|q| (q as f32 * 0.31).cos() * 1.5)
            .collect(),
    );
    let v = 0.7;
    m.set_vividness(v);
    let card = m
        .decoding
        .card_entries()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let bytes = onnx::to_onnx(&m.to_net(card).unwrap()).unwrap();
    let rt = runtime::Model::from_bytes(&bytes)
        .unwrap()
        .with_vividness(Some(v))
        .unwrap();
    assert_eq!(rt.vividness(), Some(v));
    let mut session = rt.session().unwrap();

    tch::manual_seed(5);
    let l: Vec<u16> =
        Vec::<f32>::try_from(&(Tensor::rand([64 * 64], (Kind::Float, Device::Cpu)) * 25600.0))
            .unwrap()
            .iter()
            .map(|&x| x as u16)
            .collect();
    let mut input = vec![0f32; 64 * 64];
    contract::l_plane_to_input(&l, &mut input);
    let x = Tensor::from_slice(&input).view([1, 1, 64, 64]);
    let logits = tch::no_grad(|| m.forward(&x, false)).unwrap();
    let spread = f64::try_from(logits.std(true)).unwrap();
    assert!(
        spread > 1.0,
        "logits too flat to test the decode: std {spread}"
    );
    let ab = tch::no_grad(|| m.decode(&logits, &m.annealing)).unwrap();
    let ab = Vec::<f32>::try_from(&ab.reshape(-1)).unwrap();

    let planes = session.predict(&l, 64, 64).unwrap();
    assert_eq!((planes.width, planes.height), (32, 32));
    let mut worst = 0i32;
    for y in 0..32 {
        for x in 0..32 {
            // Trainer output pixel (2y, 2x) is logit pixel (y, x) upsampled.
            let i = 2 * y * 64 + 2 * x;
            let (ta, tb) = (
                contract::output_to_ab(ab[i]),
                contract::output_to_ab(ab[64 * 64 + i]),
            );
            let j = y * 32 + x;
            worst = worst.max((ta as i32 - planes.a[j] as i32).abs());
            worst = worst.max((tb as i32 - planes.b[j] as i32).abs());
        }
    }
    // Q8.8: 26 is a tenth of a Lab unit.
    assert!(
        worst <= 26,
        "device decode differs from the trainer's by {worst} / 256 Lab units"
    );
}
