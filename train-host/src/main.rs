fn main() {
    println!("colorize-train: libtorch {}", tch::Cuda::is_available());
}
