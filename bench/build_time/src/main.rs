//! Defines ResNet-50 and ResNet-152 through `resnet!` and builds them, so
//! that a release build compiles the types and the code that uses them.
//!
//! `bench/compare.py` touches this file and times `cargo build --release`;
//! run the binary with an argument to build the two networks and print
//! their learnable counts.

#[cfg(feature = "types")]
mod types {
    use dfdx::prelude::*;
    use resnet::resnet;

    resnet! {
        /// ResNet-50 as MATLAB's resnetNetwork builds it by default.
        pub type ResNet50 = { config = "../../configs/resnet50.toml" };

        /// ResNet-152: bottleneck stacks of 3, 8, 36 and 3 blocks.
        pub type ResNet152 = { config = "../../configs/resnet152.toml" };
    }

    /// Builds both networks, runs one black image through each and prints
    /// the shapes of the logits.
    pub fn build() -> Result<(), resnet::Error> {
        let dev = Cpu::default();
        let r50 = <ResNet50>::new(&dev)?;
        let r152 = <ResNet152>::new(&dev)?;
        let image: Tensor<Rank4<1, 3, 224, 224>, f32, Cpu> = dev.zeros();
        let a: Tensor<Rank2<1, 10>, f32, Cpu> = r50.forward(image.clone())?;
        let b: Tensor<Rank2<1, 10>, f32, Cpu> = r152.forward(image)?;
        println!("ResNet-50 logits {:?}, ResNet-152 logits {:?}", a.shape(), b.shape());
        Ok(())
    }
}

fn main() {
    if std::env::args().len() < 2 {
        println!("pass any argument to build the networks");
        return;
    }
    #[cfg(feature = "types")]
    if let Err(e) = types::build() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
