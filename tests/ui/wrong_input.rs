//! Tensors whose channel count or size differs from the network's input
//! do not compile, whichever way the network is called.

use dfdx::nn::Module;
use dfdx::prelude::*;
use resnet::resnet;

type Net = resnet!(
    input: [8, 8, 1],
    classes: 3,
    initial_num_filters: 4,
    num_filters: [4, 8],
    stack_depth: [1, 1],
    initial_pooling: "none",
    initial_filter_size: 3,
    initial_stride: 1,
    bottleneck_type: "none",
);

fn main() {
    let dev = Cpu::default();
    let net = Net::new(&dev).unwrap();

    let three_channels: Tensor<Rank4<2, 3, 8, 8>, f32, Cpu> = dev.zeros();
    let _ = net.forward(three_channels);

    let wider: Tensor<Rank4<2, 1, 8, 9>, f32, Cpu> = dev.zeros();
    let _ = net.forward(wider);

    let taller: Tensor<Rank4<2, 1, 16, 8>, f32, Cpu> = dev.zeros();
    let _ = Module::forward(&net, taller);

    let wrong_logits: Tensor<Rank2<2, 4>, f32, Cpu> =
        net.forward(dev.zeros::<Rank4<2, 1, 8, 8>>()).unwrap();
}
