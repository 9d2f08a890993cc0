//! Loading from folders and shards, class selection and the gray skip.
mod common;

use colorize_train::data::{self, LoadOptions};

fn opts(size: usize) -> LoadOptions {
    LoadOptions {
        size,
        classes: None,
        gray_threshold: 3.0,
        max_images: None,
        squash_crops: None,
        progress: false,
    }
}

#[test]
fn tar_gz_and_folder_give_the_same_images_and_skip_gray() {
    let dir = tempfile::tempdir().unwrap();
    let entries = common::dataset(10, 3, 24);
    let shard = dir.path().join("train-0.tar.gz");
    common::write_tar_gz(&shard, &entries);
    let folder = common::write_folder(&dir.path().join("folder"), &entries);

    let (from_tar, report) = data::load(std::slice::from_ref(&shard), &opts(16)).unwrap();
    assert_eq!(report.kept, 10);
    assert_eq!(report.skipped_gray, 3, "the three gray images are skipped");
    assert_eq!(report.failed, 0);
    assert_eq!(from_tar.len(), 10);
    assert!(from_tar.iter().all(|s| s.width == 16 && s.height == 16));

    let (from_dir, report) = data::load(&[folder], &opts(16)).unwrap();
    assert_eq!((report.kept, report.skipped_gray), (10, 3));
    // Same pixels (order may differ: the folder walk is sorted by name).
    let mut a: Vec<_> = from_tar.iter().map(|s| s.l.clone()).collect();
    let mut b: Vec<_> = from_dir.iter().map(|s| s.l.clone()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn classes_select_by_wnid_in_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let shard = dir.path().join("s.tar.gz");
    common::write_tar_gz(&shard, &common::dataset(10, 0, 16));
    let mut o = opts(16);
    o.classes = data::parse_classes(&["n01443537".into()], None).unwrap();
    let (samples, report) = data::load(&[shard], &o).unwrap();
    assert_eq!(samples.len(), 5);
    assert_eq!(report.skipped_class, 5);
}

#[test]
fn larger_images_keep_their_aspect_for_random_crops() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wide.png");
    common::coloured(3, 96, 48).save(&p).unwrap();
    let (samples, _) = data::load(&[p], &opts(16)).unwrap();
    assert_eq!((samples[0].width, samples[0].height), (32, 16));
    let b = data::make_batch(&[&samples[0]], 16, 16, Some(&mut data::Rng::new(5)));
    assert_eq!(b.input.len(), 16 * 16);
    assert_eq!(b.target.len(), 2 * 16 * 16);
}

#[test]
fn unreadable_files_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = common::dataset(2, 0, 16);
    entries.push(("tiny/broken.png".into(), b"not a png".to_vec()));
    let folder = common::write_folder(dir.path(), &entries);
    let (samples, report) = data::load(&[folder], &opts(16)).unwrap();
    assert_eq!((samples.len(), report.failed), (2, 1));
}
