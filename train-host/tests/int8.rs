//! int8 against f32: a model trained briefly on synthetic images, exported
//! both ways, scored on held-out images with the shared metrics.
mod common;

use colorize_device::runtime;
use colorize_shared::{contract, lab, metrics};
use colorize_train::loss::LossKind;
use colorize_train::model::{Arch, ModelConfig};
use colorize_train::optim::OptimizerKind;
use colorize_train::train::{self, TrainConfig};
use colorize_train::{data, export};

#[test]
fn int8_export_stays_close_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::write_folder(&dir.path().join("data"), &common::dataset(48, 0, 32));
    let cfg = TrainConfig {
        model: ModelConfig {
            arch: Arch::Unet,
            size: 32,
            width: 8,
            depth: 2,
            dropout: 0.0,
            output: Default::default(),
            head: Default::default(),
            finetune_encoder: false,
            finetune_from: None,
            hints: false,
            hint_coarse_width: None,
            hint_global: false,
        },
        data: vec![folder.clone()],
        val: vec![],
        val_split: 0.25,
        classes: None,
        gray_threshold: 3.0,
        max_images: None,
        squash_crops: None,
        optimizer: OptimizerKind::Adam,
        lr: 5e-3,
        epochs: 2,
        batch_size: 8,
        seed: 5,
        loss: LossKind::Mse,
        command: "test".into(),
        schedule: Default::default(),
        bf16: false,
        channels_last: false,
        init_from: None,
        encoder_weights: None,
        encoder_lr_scale: 1.0,
    };
    let out = dir.path().join("run");
    train::train(cfg, &out, false, tch::Device::Cpu, false).unwrap();
    let ckpt = out.join("best.ot");
    let calib = export::calibration_inputs(std::slice::from_ref(&folder), 32, 32, 16).unwrap();
    export::export(&ckpt, &out.join("f32.onnx"), None, None, None).unwrap();
    export::export(&ckpt, &out.join("int8.onnx"), Some(&calib), None, None).unwrap();
    let f32m = runtime::Model::from_path(out.join("f32.onnx")).unwrap();
    let int8m = runtime::Model::from_path(out.join("int8.onnx")).unwrap();

    // Held-out images: other seeds than the training set.
    let (mut acc_f32, mut acc_int8) = (
        metrics::EvalAccumulator::new(),
        metrics::EvalAccumulator::new(),
    );
    let mut agree = 0.0;
    let n = 8;
    for seed in 0..n {
        let img = common::coloured(5000 + seed, 32, 32);
        let s = data::Sample::from_rgb8(32, 32, img.as_raw());
        let input = data::make_batch(&[&s], 32, 32, None).input;
        let rgb = |m: &runtime::Model| {
            let y = m.run(&input).unwrap();
            let (mut a, mut b) = (vec![0i16; 1024], vec![0i16; 1024]);
            contract::output_to_ab_planes(&y, &mut a, &mut b);
            let mut rgb = vec![0u8; 3 * 1024];
            lab::lab_planes_to_rgb8(&s.l, &a, &b, &mut rgb);
            rgb
        };
        let (pf, pq) = (rgb(&f32m), rgb(&int8m));
        let truth = s.crop_rgb8(0, 0, 32);
        acc_f32.add(&truth, &pf);
        acc_int8.add(&truth, &pq);
        agree += metrics::psnr_rgb8(&pf, &pq) / n as f64;
    }
    let (sf, sq) = (acc_f32.summary(), acc_int8.summary());
    println!(
        "PSNR vs truth: f32 {:.3} dB, int8 {:.3} dB (difference {:+.3} dB); int8 vs f32 output PSNR {:.2} dB",
        sf.psnr,
        sq.psnr,
        sq.psnr - sf.psnr,
        agree
    );
    assert!(agree > 30.0, "int8 output strays from f32: {agree:.2} dB");
    assert!(
        (sq.psnr - sf.psnr).abs() < 1.0,
        "int8 {} vs f32 {}",
        sq.psnr,
        sf.psnr
    );
}
