//! tch and the exported ONNX model (run by tract in colorize-device) agree.
use colorize_device::{onnx, runtime};
use colorize_train::model::{Arch, Model, ModelConfig};
use tch::{nn, Device, Kind, Tensor};

fn model(arch: Arch) -> (nn::VarStore, Model) {
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
    };
    let m = Model::new(&vs.root(), cfg).unwrap();
    (vs, m)
}

fn tch_run(m: &Model, input: &[f32]) -> Vec<f32> {
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
